// The daemon's wait between cycles: a setTimeout that SIGTERM (an AbortSignal)
// ends at once, so the daemon stops without waiting out INTERVAL.

/** Abortable setTimeout (fake timers drive it in tests). */
export const timerSleep = (ms: number, signal: AbortSignal): Promise<void> =>
  new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
