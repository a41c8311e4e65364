{{/*
The chart's named templates. Hand-written (deploy/helm/parts/_helpers.tpl); `npm run chart`
copies it into the chart beside the templates it generates from deploy/.
*/}}

{{/*
The prefix of every name the chart gives (objects, ClusterRoles and their bindings, webhook
configurations, the serving certificate's Secret and DNS names): fullnameOverride, else the
release name when it already holds the chart's name (nameOverride standing for it), else
"<release>-<name>". Cut to 40 characters so that the longest suffix, "-mutating-webhook-configuration"
on a cluster-wide object and "-controller-metrics" on a Service (a DNS label), still fits.
*/}}
{{- define "rqlite-operator.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end }}

{{/* Helm's recommended labels, added to deploy/'s own on every object (not to selectors). */}}
{{- define "rqlite-operator.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
{{- end }}

{{/* The operator's image: repository:tag, pinned by @digest when one is given. */}}
{{- define "rqlite-operator.image" -}}
{{- $image := printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) -}}
{{- with .Values.image.digest }}{{ $image = printf "%s@%s" $image . }}{{ end -}}
{{- $image | quote -}}
{{- end }}

{{/*
Rules between values that values.schema.json cannot state. Renders nothing; fails the install
with the rule that is broken. The Lease timings follow client-go's: the leader must give up
(renewDeadline) before its Lease expires for the others (leaseDuration), and retry in between.
*/}}
{{- define "rqlite-operator.validate" -}}
{{- $le := .Values.leaderElection -}}
{{- if not (gt (float64 $le.leaseDuration) (float64 $le.renewDeadline)) -}}
{{- fail (printf "leaderElection.leaseDuration (%v) must be greater than leaderElection.renewDeadline (%v)" $le.leaseDuration $le.renewDeadline) -}}
{{- end -}}
{{- if not (gt (float64 $le.renewDeadline) (float64 $le.retryPeriod)) -}}
{{- fail (printf "leaderElection.renewDeadline (%v) must be greater than leaderElection.retryPeriod (%v)" $le.renewDeadline $le.retryPeriod) -}}
{{- end -}}
{{- include "rqlite-operator.checkOtherReleases" . -}}
{{- end }}

{{/*
Another operator in the cluster (a release of this chart, or the kustomize install), read from
the cluster on install and upgrade; `helm template` sees none. Two of them must never judge or
reconcile the same RqClusters, so each must watch namespaces of its own (its webhooks are
scoped to them), and they must live in different namespaces (their Deployments, PDBs, policies
and Lease are found by the same labels and names). The CRDs are cluster-wide: one release owns
them, the others install with crds.install=false. Each other operator is found by its mutating
webhook (mrqcluster.rqlite.io), whose namespaceSelector says what it watches (none: every
namespace).
*/}}
{{- define "rqlite-operator.checkOtherReleases" -}}
{{- $own := printf "%s-mutating-webhook-configuration" (include "rqlite-operator.fullname" .) -}}
{{- $mine := .Values.watchNamespaces -}}
{{- range (lookup "admissionregistration.k8s.io/v1" "MutatingWebhookConfiguration" "" "").items -}}
{{- $config := .metadata.name -}}
{{- if ne $config $own -}}
{{- range .webhooks -}}
{{- if eq .name "mrqcluster.rqlite.io" -}}
{{- $theirs := list -}}
{{- $scoped := false -}}
{{- range (dig "namespaceSelector" "matchExpressions" list .) -}}
{{- if and (eq .key "kubernetes.io/metadata.name") (eq .operator "In") -}}
{{- $theirs = .values -}}
{{- $scoped = true -}}
{{- end -}}
{{- end -}}
{{- $where := dig "clientConfig" "service" "namespace" "" . -}}
{{- if eq $where $.Release.Namespace -}}
{{- fail (printf "another rqlite operator (%s) runs in namespace %s already: install each release into a namespace of its own" $config $where) -}}
{{- end -}}
{{- if not (and $mine $scoped) -}}
{{- fail (printf "another rqlite operator (%s) watches %s: two releases must each set watchNamespaces, to namespaces of their own (this one watches %s)" $config (ternary (join ", " $theirs) "every namespace" $scoped) (ternary (join ", " $mine) "every namespace" (not (empty $mine)))) -}}
{{- end -}}
{{- range $mine -}}
{{- if has . $theirs -}}
{{- fail (printf "namespace %s is in watchNamespaces of another rqlite operator (%s) already: two releases must watch namespaces of their own" . $config) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- if .Values.crds.install -}}
{{- with lookup "apiextensions.k8s.io/v1" "CustomResourceDefinition" "" "rqclusters.rqlite.io" -}}
{{- $owner := dig "metadata" "annotations" "meta.helm.sh/release-name" "" . -}}
{{- $ownerNs := dig "metadata" "annotations" "meta.helm.sh/release-namespace" "" . -}}
{{- if or (ne $owner $.Release.Name) (ne $ownerNs $.Release.Namespace) -}}
{{- fail (printf "the RqCluster CRDs exist already (%s): install this release with crds.install=false" (ternary (printf "from release %s in namespace %s" $owner $ownerNs) "installed outside Helm" (ne $owner ""))) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end }}
