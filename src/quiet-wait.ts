// Dawn-node resolves GPU promises by polling with setImmediate: while one is pending it spins a
// core. On a CPU adapter that core is one the "GPU" computes on (on 2 cores a spinning thread
// slows a decode GEMV 1.8×, bench/README.md). Blocking the thread for a millisecond on every
// event-loop turn (Atomics.wait) turns that spin into a 1 ms poll. Only where blocking is allowed:
// Node (main thread and workers); a browser's main thread may not block, and its GPU work runs in
// another process anyway.

const cell = typeof SharedArrayBuffer === 'undefined' ? undefined : new Int32Array(new SharedArrayBuffer(4));

function canBlock(): boolean {
  if (!cell) return false;
  try {
    Atomics.wait(cell, 0, 1, 0); // the value differs: returns at once where blocking is allowed
    return true;
  } catch {
    return false;
  }
}

const blocking = typeof setImmediate === 'function' && canBlock();

/** Awaits `p`, polling every `pollMs` while it is pending instead of letting the event loop spin. */
export function quietly<T>(p: Promise<T>, pollMs = 1): Promise<T> {
  if (!blocking) return p;
  let pending = true;
  const done = p.finally(() => {
    pending = false;
  });
  const tick = () => {
    if (!pending) return;
    Atomics.wait(cell!, 0, 0, pollMs);
    setImmediate(tick);
  };
  setImmediate(tick);
  return done;
}
