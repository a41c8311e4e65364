// Kubernetes Events on the RqCluster, so `kubectl describe rqc` shows what the operator did.
// Recording never fails a reconcile: an Event that cannot be written is reported and dropped.
import { API_VERSION, KIND, MANAGER_NAME } from "../../shared/names.js";
import type { KubeClient } from "../kubeClient.js";
import type { EventSink } from "../reconcile/ports.js";
import { resourcePath } from "./paths.js";

export interface EventTarget {
  name: string;
  namespace: string;
  uid: string;
}

export type EventRecorder = (target: EventTarget) => EventSink;

/** The same Event again within this window is dropped, so a step that waits does not flood. */
const REPEAT_WINDOW_MS = 5 * 60_000;
const MAX_REMEMBERED = 10_000;

export function makeEventRecorder(client: KubeClient, instance: string, onError: (err: unknown) => void): EventRecorder {
  let sequence = 0;
  const lastSent = new Map<string, number>();
  const isRepeat = (key: string) => {
    const now = Date.now();
    const seen = lastSent.get(key);
    if (seen !== undefined && now - seen < REPEAT_WINDOW_MS) return true;
    if (lastSent.size >= MAX_REMEMBERED) lastSent.clear();
    lastSent.set(key, now);
    return false;
  };
  return (target) => {
    const emit = (type: "Normal" | "Warning", reason: string, message: string) => {
      if (isRepeat(`${target.namespace}/${target.name}/${target.uid}|${type}|${reason}|${message}`)) return;
      const now = new Date().toISOString();
      // Unique per process and call, like client-go's "<object>.<hex timestamp>".
      const name = `${target.name}.${(Date.now() * 1000 + (sequence++ % 1000)).toString(16)}`;
      client.request({
        method: "POST",
        path: resourcePath("v1", "Event", target.namespace),
        body: {
          metadata: { name, namespace: target.namespace },
          involvedObject: { apiVersion: API_VERSION, kind: KIND, name: target.name, namespace: target.namespace, uid: target.uid },
          type, reason, message: message.slice(0, 1024),
          source: { component: MANAGER_NAME, host: instance },
          firstTimestamp: now, lastTimestamp: now, count: 1,
          reportingComponent: MANAGER_NAME, reportingInstance: instance,
        },
        timeoutMs: 10_000,
      }).catch(onError);
    };
    return {
      normal: (reason, message) => emit("Normal", reason, message),
      warning: (reason, message) => emit("Warning", reason, message),
    };
  };
}
