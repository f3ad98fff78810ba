// collectGarbage(): a full V8 collection without --expose-gc (loadModel runs one after the tokenizer).

import { describe, expect, it } from 'vitest';
import { collectGarbage } from '../src/node/collect-garbage.js';

describe('collectGarbage', () => {
  it('collects what is no longer referenced', async () => {
    const ref = (() => new WeakRef({ payload: new Array(1000).fill(1) }))();
    // A WeakRef's target is kept until the current job ends.
    await new Promise((r) => setTimeout(r, 0));
    collectGarbage();
    expect(ref.deref()).toBeUndefined();
  });
});
