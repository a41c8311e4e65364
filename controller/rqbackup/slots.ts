// PURE: which backup attempts may run now. The operator runs at most `total` attempts at once
// (--backup-workers) and at most `perNamespace` of one namespace (--backup-max-per-namespace),
// so a tenant who creates many backups, or slow ones, holds only its own share. When a slot
// frees, a namespace with fewer attempts running goes first. No I/O and no clock: the state is
// a plain object the controller keeps, and each function returns the next one.

export interface SlotLimits {
  total: number;
  perNamespace: number;
}

export interface BackupSlots {
  /** Attempts holding a slot: backup key ("namespace/name") → its namespace. */
  readonly running: Readonly<Record<string, string>>;
  /** Keys refused a slot, oldest first; they are woken when one may start. */
  readonly waiting: readonly string[];
}

export const NO_SLOTS: BackupSlots = { running: {}, waiting: [] };

export type SlotDecision = { start: true; slots: BackupSlots } | { start: false; slots: BackupSlots; reason: string };

const namespaceOf = (key: string) => key.slice(0, key.indexOf("/"));

function runningIn(slots: BackupSlots, ns: string): number {
  return Object.values(slots.running).filter((n) => n === ns).length;
}

/** Whether `key` may start an attempt now; if so it holds a slot until release(). */
export function acquire(slots: BackupSlots, key: string, limits: SlotLimits): SlotDecision {
  if (key in slots.running) return { start: true, slots };
  const ns = namespaceOf(key);
  const mine = runningIn(slots, ns);
  const total = Object.keys(slots.running).length;
  const wait = (reason: string): SlotDecision => ({
    start: false,
    reason,
    slots: slots.waiting.includes(key) ? slots : { ...slots, waiting: [...slots.waiting, key] },
  });
  if (mine >= limits.perNamespace)
    return wait(
      `namespace ${ns} already runs ${mine} backup${mine === 1 ? "" : "s"}, its limit (--backup-max-per-namespace=${limits.perNamespace})`,
    );
  if (total >= limits.total)
    return wait(`${total} backups are running, the operator's limit (--backup-workers=${limits.total})`);
  // A waiting backup of a namespace with fewer attempts running gets the slot first: the
  // namespace that already runs some does not take every slot that frees.
  const ahead = slots.waiting.find((k) => {
    const other = namespaceOf(k);
    return k !== key && other !== ns && runningIn(slots, other) < mine;
  });
  if (ahead) return wait(`a backup of namespace ${namespaceOf(ahead)}, which runs fewer, goes first`);
  return {
    start: true,
    slots: { running: { ...slots.running, [key]: ns }, waiting: slots.waiting.filter((k) => k !== key) },
  };
}

/**
 * Records that `key` runs an attempt found already running (a `pvc` backup's Job, seen again
 * after a restart), whatever the limits: it holds a slot in fact.
 */
export function hold(slots: BackupSlots, key: string): BackupSlots {
  if (key in slots.running) return slots;
  return { running: { ...slots.running, [key]: namespaceOf(key) }, waiting: slots.waiting.filter((k) => k !== key) };
}

/**
 * Frees `key`'s slot (and forgets it as a waiter, e.g. when its backup is deleted); `wake` lists
 * the waiting keys that may start now, for the controller to queue again.
 */
export function release(slots: BackupSlots, key: string, limits: SlotLimits): { slots: BackupSlots; wake: string[] } {
  const running = { ...slots.running };
  const had = key in running;
  delete running[key];
  const next: BackupSlots = { running, waiting: slots.waiting.filter((k) => k !== key) };
  if (!had) return { slots: next, wake: [] };
  const room = limits.total - Object.keys(running).length;
  const wake = room > 0 ? next.waiting.filter((k) => runningIn(next, namespaceOf(k)) < limits.perNamespace) : [];
  return { slots: next, wake };
}
