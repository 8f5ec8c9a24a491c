// The async iterator of `SealroomClient.events()`: batches of `nextEvents` handed out one
// event at a time. An abort of the caller's signal, `break` out of `for await` (which calls
// `return()`) or a `cancelled` error end it; any other error is thrown once, then it ends.

/**
 * @param {(signal: AbortSignal) => Promise<object[]>} next one batch of events
 * @param {AbortController} controller aborted to stop the batch in flight
 */
export function liveIterator(next, controller) {
  const queue = [];
  let done = false;
  const finish = () => {
    done = true;
    queue.length = 0;
    controller.abort();
    return { done: true, value: undefined };
  };
  return {
    [Symbol.asyncIterator]() {
      return this;
    },
    async next() {
      while (queue.length === 0) {
        if (done || controller.signal.aborted) return finish();
        let batch;
        try {
          batch = await next(controller.signal);
        } catch (e) {
          const cancelled = e && e.code === "cancelled";
          finish();
          if (cancelled) return { done: true, value: undefined };
          throw e;
        }
        queue.push(...batch);
      }
      return { done: false, value: queue.shift() };
    },
    async return() {
      return finish();
    },
  };
}
