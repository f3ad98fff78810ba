// `paligemma playground`: serves the browser playground and a model folder on 127.0.0.1.

import { join } from 'node:path';
import { demoModelDir } from '../node/demo-model.js';
import { isHubModel, modelFolder } from '../node/hub-model.js';
import { startPlaygroundServer } from '../node/playground-server.js';
import { int, parse, UsageError } from './args.js';
import { downloadProgress } from './progress.js';

export const summary = 'serve the browser playground (page + model folder) on 127.0.0.1';

const USAGE = `usage: paligemma playground [--model DIR|ID] [--lora DIR ... [--lora-merge]] [--port P]

  --model DIR   the PaliGemma folder the page loads (default: the demo checkpoint, random weights,
                generated on first use); served read-only, nothing outside it. A Hub model id
                (ORG/NAME[@REVISION]) is served from the Hugging Face cache, downloaded first if
                needed (docs/hub.md)
  --lora DIR    a PEFT LoRA adapter folder the page offers (repeatable); served read-only too
  --lora-merge  the page starts with its adapters merged into f32 copies of their weights (docs/lora.md)
  --port P      port on 127.0.0.1 (default 8000; 0 picks a free one)

The page can also open a model folder from your disk without the server (Open folder…).
The kernel bench page (bench kernels in the browser, and a comparison of result files) is at /bench/.`;

export async function run(argv: string[]): Promise<number> {
  const { values: o } = parse(argv, { model: { type: 'string' }, lora: { type: 'string', multiple: true }, 'lora-merge': { type: 'boolean' }, port: { type: 'string' } }, USAGE);
  if (o.help) {
    console.log(USAGE);
    return 0;
  }
  const port = int(o.port, 'port', 8000);
  if (port > 65535) throw new UsageError(`--port must be at most 65535, got ${port}`);
  // A Hub id is served from its cache snapshot, whose files are symlinks into the repository's blobs/.
  const hub = o.model !== undefined && isHubModel(o.model);
  const download = downloadProgress();
  const modelDir = o.model ? await modelFolder(o.model, { onProgress: download.onProgress }).finally(download.done) : await demoModelDir(true);
  const hubServing = hub ? { modelName: o.model, modelBlobsDir: join(modelDir, '..', '..', 'blobs') } : {};
  const server = await startPlaygroundServer({ modelDir, ...hubServing, loraDirs: o.lora, loraMerge: o['lora-merge'], port }).catch((e: NodeJS.ErrnoException) => {
    throw e.code === 'EADDRINUSE' ? new UsageError(`port ${port} on 127.0.0.1 is in use; pick another with --port (0 = any free port)`) : e;
  });
  console.log(`playground: ${server.url}  (model: ${modelDir}; Ctrl-C to stop)`);
  console.log(`kernel bench page: ${server.url}bench/`);
  await new Promise<void>((resolve) => {
    for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => resolve());
  });
  await server.close();
  return 0;
}
