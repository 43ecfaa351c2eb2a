// At most one render of a streaming answer per interval (pure: the clock and timers are passed in).
//
// The page's cost is per render, not per token: each costs a few ms of main-thread time
// (markdown of the open block, React, then style, layout and paint) whatever the text added,
// and deltas arrive ~20 times a second (one per server log commit). So text is rendered at
// once when nothing was rendered for an interval, else once the interval is up, together
// with whatever else arrived meanwhile; a run's state change (status, end) renders at once,
// so the answer's last text shows as soon as its end arrives.

export function createRenderPacer({ render, intervalMs, now, setTimer, clearTimer }) {
  let lastAt = -Infinity;
  let timer = null;
  const cancel = () => {
    if (timer !== null) clearTimer(timer);
    timer = null;
  };
  const renderNow = () => {
    cancel();
    lastAt = now();
    render();
  };
  return {
    // Text arrived: render now, or once the interval since the last render is up.
    soon() {
      if (timer !== null) return;
      const waitMs = lastAt + intervalMs - now();
      if (waitMs <= 0) renderNow();
      else timer = setTimer(renderNow, waitMs);
    },
    now: renderNow,
    cancel,
  };
}
