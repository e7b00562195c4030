/**
 * `changes`, a generator that reads `events`, as the iterator a subscription is given: a
 * subscriber that leaves (complete, disconnect) ends `events` first, since the generator may
 * be waiting on it, and a generator's own return() would wait for its next event.
 */
export function derivedStream<T>(changes: AsyncGenerator<T>, events: AsyncIterator<unknown>): AsyncIterableIterator<T> {
  const iterator: AsyncIterableIterator<T> = {
    next: () => changes.next(),
    return: async (value?: unknown) => {
      await events.return?.();
      return changes.return(value as T);
    },
    throw: async (error?: unknown) => {
      await events.return?.();
      return changes.throw(error);
    },
    [Symbol.asyncIterator]: () => iterator,
  };
  return iterator;
}
