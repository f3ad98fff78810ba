// A full V8 garbage collection on demand (Node offers none without --expose-gc). loadModel runs one
// after the tokenizer: parsing Gemma's tokenizer.json leaves ≈300 MiB of garbage, and nothing the
// model does next makes V8 collect it soon (its memory is GPU memory, not V8 heap), so it stayed
// resident (peak RSS weights + 618 MiB on lavapipe, where GPU memory is RSS too).

import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

export function collectGarbage(): void {
  setFlagsFromString('--expose-gc');
  (runInNewContext('gc') as () => void)();
}
