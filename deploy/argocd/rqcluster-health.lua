-- Argo CD health of an RqCluster (rqlite.io/v1alpha1). Install it as argocd-cm's
-- resource.customizations.health.rqlite.io_RqCluster (README: "Health checks").
-- Healthy is the operator's Ready condition: Available (a voter quorum serves) and converged on
-- the latest spec. Written for Lua 5.1, the dialect of Argo CD's interpreter (gopher-lua).
local hs = { status = "Progressing", message = "waiting for the operator to report the cluster's status" }
if obj.status == nil or obj.status.conditions == nil then
  return hs
end
if obj.spec ~= nil and obj.spec.paused == true then
  hs.status = "Suspended"
  hs.message = "spec.paused is true: the operator changes nothing"
  return hs
end
local generation = obj.metadata.generation
local observed = obj.status.observedGeneration
if generation ~= nil and (observed == nil or observed < generation) then
  hs.message = "waiting for the operator to act on the latest spec"
  return hs
end
local ready = nil
local degraded = nil
for _, condition in ipairs(obj.status.conditions) do
  if condition.type == "Ready" then
    ready = condition
  elseif condition.type == "Degraded" then
    degraded = condition
  end
end
local function describe(condition)
  return (condition.reason or "") .. ": " .. (condition.message or "")
end
if ready ~= nil and ready.status == "True" then
  hs.status = "Healthy"
  hs.message = ready.message or "Ready"
  return hs
end
-- A spec the operator refuses, a node down after the cluster was available, a restore that
-- cannot load: a person must act, so these are Degraded rather than Progressing.
if (degraded ~= nil and degraded.status == "True") or obj.status.phase == "Failed" then
  hs.status = "Degraded"
  hs.message = describe(degraded ~= nil and degraded.status == "True" and degraded or ready or {})
  return hs
end
if ready ~= nil then
  hs.message = describe(ready)
end
return hs
