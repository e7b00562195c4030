/**
 * A map that holds at most `capacity` entries and forgets the least recently used one to
 * make room: for per-token and per-address state that callers outside Fleetvisor decide
 * the keys of, where memory must not grow with what they send.
 *
 * A `Map` keeps insertion order, so moving a key to the end on use keeps it in order of
 * use, and the first key is always the one to forget.
 */
export class LruMap<K, V> {
  private readonly entries = new Map<K, V>();

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`capacity must be ≥ 1 (got ${capacity})`);
  }

  /** The value, which becomes the most recently used. */
  get(key: K): V | undefined {
    const value = this.entries.get(key);
    if (value !== undefined) {
      this.entries.delete(key);
      this.entries.set(key, value);
    }
    return value;
  }

  /** The value, leaving the order of use as it is. */
  peek(key: K): V | undefined {
    return this.entries.get(key);
  }

  /** Sets `key` as the most recently used, forgetting the least recently used key when full. */
  set(key: K, value: V): void {
    this.entries.delete(key);
    this.entries.set(key, value);
    if (this.entries.size > this.capacity) this.entries.delete(this.entries.keys().next().value!);
  }

  delete(key: K): boolean {
    return this.entries.delete(key);
  }

  clear(): void {
    this.entries.clear();
  }

  /** Forgets every entry whose value `expired` says so. */
  deleteWhere(expired: (value: V) => boolean): void {
    for (const [key, value] of this.entries) if (expired(value)) this.entries.delete(key);
  }

  get size(): number {
    return this.entries.size;
  }
}
