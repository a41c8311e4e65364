// Memory of PVC growth the API server refused (a StorageClass without allowVolumeExpansion), per
// namespace and PVC, for the size that was refused. While it holds, the plan neither asks again
// on every reconcile nor forgets to report it; after `retryMs` it asks once more.
export class GrowthRefusals {
  private readonly refused = new Map<string, { pvc: string; size: string; message: string; at: number }>();

  constructor(
    private readonly retryMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  record(namespace: string, pvc: string, size: string, message: string): void {
    this.refused.set(`${namespace}/${pvc}`, { pvc, size, message, at: this.now() });
  }

  /** The refusals of one namespace still in force, by PVC name. */
  current(namespace: string): Map<string, { size: string; message: string }> {
    const out = new Map<string, { size: string; message: string }>();
    for (const [key, r] of this.refused) {
      if (this.now() - r.at > this.retryMs) this.refused.delete(key);
      else if (key.startsWith(`${namespace}/`)) out.set(r.pvc, { size: r.size, message: r.message });
    }
    return out;
  }
}
