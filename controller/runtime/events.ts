// Kubernetes Events on the reconciled object, so `kubectl describe` shows what the controller did.
// Recording never fails a reconcile: an Event that cannot be written is reported and dropped.
// What one reconcile records is sent when it ends, one Event per type and reason: creating a
// cluster's nine children is one "Created" Event, not nine, which halves the writes of a
// cluster's creation.
import type { KubeClient } from "./kubeClient.js";
import { resourcePath } from "./paths.js";

export interface EventSink {
  normal(reason: string, message: string): void;
  warning(reason: string, message: string): void;
}

/** Who records: the component named in every Event, and the kind of object Events are about. */
export interface EventSource {
  component: string;
  /** Names this replica. */
  instance: string;
  involvedApiVersion: string;
  involvedKind: string;
}

export interface EventTarget {
  name: string;
  namespace: string;
  uid: string;
}

export interface BufferedEventSink extends EventSink {
  /** Sends what was recorded since the last flush: one Event per type and reason. */
  flush(): void;
}

export type EventRecorder = (target: EventTarget) => BufferedEventSink;

/** An Event's message is capped at 1 KiB, as client-go caps it. */
const MAX_MESSAGE = 1024;

/** The same Event again within this window is dropped, so a step that waits does not flood. */
const REPEAT_WINDOW_MS = 5 * 60_000;
const MAX_REMEMBERED = 10_000;

export function makeEventRecorder(
  client: KubeClient,
  source: EventSource,
  onError: (err: unknown) => void,
): EventRecorder {
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
    const send = (type: "Normal" | "Warning", reason: string, message: string) => {
      if (isRepeat(`${target.namespace}/${target.name}/${target.uid}|${type}|${reason}|${message}`)) return;
      const now = new Date().toISOString();
      // Unique per process and call, like client-go's "<object>.<hex timestamp>".
      const name = `${target.name}.${(Date.now() * 1000 + (sequence++ % 1000)).toString(16)}`;
      client
        .request({
          method: "POST",
          path: resourcePath("v1", "Event", target.namespace),
          body: {
            metadata: { name, namespace: target.namespace },
            involvedObject: {
              apiVersion: source.involvedApiVersion,
              kind: source.involvedKind,
              name: target.name,
              namespace: target.namespace,
              uid: target.uid,
            },
            type,
            reason,
            message: message.slice(0, MAX_MESSAGE),
            source: { component: source.component, host: source.instance },
            firstTimestamp: now,
            lastTimestamp: now,
            count: 1,
            reportingComponent: source.component,
            reportingInstance: source.instance,
          },
          timeoutMs: 10_000,
        })
        .catch(onError);
    };
    const pending = new Map<string, { type: "Normal" | "Warning"; reason: string; messages: string[] }>();
    const record = (type: "Normal" | "Warning", reason: string, message: string) => {
      const key = `${type}|${reason}`;
      const entry = pending.get(key) ?? { type, reason, messages: [] };
      pending.set(key, entry);
      if (!entry.messages.includes(message)) entry.messages.push(message);
    };
    return {
      normal: (reason, message) => record("Normal", reason, message),
      warning: (reason, message) => record("Warning", reason, message),
      flush: () => {
        for (const { type, reason, messages } of pending.values()) send(type, reason, joinMessages(messages));
        pending.clear();
      },
    };
  };
}

/** "a; b; c", or as many as fit in an Event with "(and N more)" when they do not all fit. */
function joinMessages(messages: string[]): string {
  const all = messages.join("; ");
  if (all.length <= MAX_MESSAGE) return all;
  for (let n = messages.length - 1; n > 0; n--) {
    const text = `${messages.slice(0, n).join("; ")}; (and ${messages.length - n} more)`;
    if (text.length <= MAX_MESSAGE) return text;
  }
  return messages[0]!;
}
