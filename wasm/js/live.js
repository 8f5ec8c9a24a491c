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

/** An AbortController aborted with `signal` (an AbortSignal, or nothing). */
export function liveController(signal) {
  if (signal !== undefined && signal !== null
    && !(typeof signal === "object" && "aborted" in signal && typeof signal.addEventListener === "function")) {
    const e = new Error("signal must be an AbortSignal");
    Object.assign(e, { code: "invalid_input", kind: "invalid_input", retryable: false });
    throw e;
  }
  const controller = new AbortController();
  if (signal) {
    if (signal.aborted) controller.abort(signal.reason);
    else signal.addEventListener("abort", () => controller.abort(signal.reason), { once: true });
  }
  return controller;
}

/** Resolves when `signal` aborts (never rejects). */
export function abortedPromise(signal) {
  return new Promise((resolve) => {
    if (signal.aborted) resolve(true);
    else signal.addEventListener("abort", () => resolve(true), { once: true });
  });
}
