/** What a bulk operation's scheduler needs to know of its items and of the work on one. */
export interface BulkSchedule<T, R> {
  /** At most this many items under way at a time. */
  readonly maxParallel: number;
  /** Go on after a failed item; by default the items not yet started are skipped. */
  readonly continueOnError: boolean;
  /** The supervisord an item runs on (any key that names it), or `null` when it names none. */
  supervisorOf(item: T): string | null;
  /** The work on one item. A failure is a result that {@link failed} recognises, not a rejection. */
  run(item: T): Promise<R>;
  failed(result: R): boolean;
  /** The result of an item that was not started because an earlier one failed. */
  skipped(item: T): R;
}

/**
 * Runs the work on every item, starting them in the items' order: at most `maxParallel`
 * at a time and never two on one supervisord at once. An item whose supervisord is busy
 * waits, and the next item whose supervisord is free goes ahead of it. After a failed
 * item, the items not yet started are skipped unless `continueOnError`; those under way
 * finish.
 *
 * Resolves with one result per item, in the items' order. A `run` that rejects (a bug:
 * failures are results) rejects the whole.
 */
export function runBulk<T, R>(items: readonly T[], schedule: BulkSchedule<T, R>): Promise<R[]> {
  const results: R[] = new Array<R>(items.length);
  const waiting = items.map((item, index) => ({ item, index, supervisor: schedule.supervisorOf(item) }));
  const busy = new Set<string>();
  let running = 0;
  let failed = false;

  return new Promise<R[]>((resolve, reject) => {
    const pump = (): void => {
      if (failed && !schedule.continueOnError) {
        for (const { item, index } of waiting.splice(0)) results[index] = schedule.skipped(item);
      }
      while (running < schedule.maxParallel) {
        const next = waiting.findIndex(({ supervisor }) => supervisor === null || !busy.has(supervisor));
        if (next < 0) break;
        const { item, index, supervisor } = waiting.splice(next, 1)[0]!;
        if (supervisor !== null) busy.add(supervisor);
        running++;
        schedule.run(item).then((result) => {
          results[index] = result;
          if (schedule.failed(result)) failed = true;
          if (supervisor !== null) busy.delete(supervisor);
          running--;
          pump();
        }, reject);
      }
      if (running === 0 && waiting.length === 0) resolve(results);
    };
    pump();
  });
}
