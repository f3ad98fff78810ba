// `paligemma playground`: serves the browser playground and a model folder on 127.0.0.1.

import { demoModelDir } from '../node/demo-model.js';
import { startPlaygroundServer } from '../node/playground-server.js';
import { int, parse, UsageError } from './args.js';

export const summary = 'serve the browser playground (page + model folder) on 127.0.0.1';

const USAGE = `usage: paligemma playground [--model DIR] [--lora DIR ...] [--port P]

  --model DIR   the PaliGemma folder the page loads (default: the demo checkpoint, random weights,
                generated on first use); served read-only, nothing outside it
  --lora DIR    a PEFT LoRA adapter folder the page offers (repeatable); served read-only too
  --port P      port on 127.0.0.1 (default 8000; 0 picks a free one)

The page can also open a model folder from your disk without the server (Open folder…).`;

export async function run(argv: string[]): Promise<number> {
  const { values: o } = parse(argv, { model: { type: 'string' }, lora: { type: 'string', multiple: true }, port: { type: 'string' } }, USAGE);
  if (o.help) {
    console.log(USAGE);
    return 0;
  }
  const port = int(o.port, 'port', 8000);
  if (port > 65535) throw new UsageError(`--port must be at most 65535, got ${port}`);
  const modelDir = o.model ?? (await demoModelDir(true));
  const server = await startPlaygroundServer({ modelDir, loraDirs: o.lora, port }).catch((e: NodeJS.ErrnoException) => {
    throw e.code === 'EADDRINUSE' ? new UsageError(`port ${port} on 127.0.0.1 is in use; pick another with --port (0 = any free port)`) : e;
  });
  console.log(`playground: ${server.url}  (model: ${modelDir}; Ctrl-C to stop)`);
  await new Promise<void>((resolve) => {
    for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => resolve());
  });
  await server.close();
  return 0;
}
