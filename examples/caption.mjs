// @ts-check
// Caption an image in Node, streaming the text as it is generated.
// Run: node examples/caption.mjs MODEL [IMAGE] [PROMPT]
//   MODEL: a Hugging Face PaliGemma folder (e.g. ~/models/paligemma-3b-mix-224) or Hub id (google/paligemma-3b-mix-224)
import { readFile } from 'node:fs/promises';
import { decodeImage, loadModel } from 'paligemma-webgpu';

const [model, imageFile = 'examples/shapes.png', prompt = 'caption en'] = process.argv.slice(2);
if (!model) {
  console.error('usage: node examples/caption.mjs MODEL [IMAGE] [PROMPT]');
  process.exit(2);
}
const { pipeline } = await loadModel(model);
const image = decodeImage(await readFile(imageFile), imageFile);
const decoder = pipeline.tokenizer.createStreamDecoder();
for await (const token of pipeline.generate([{ image, prompt }], { maxNewTokens: 20 })) {
  process.stdout.write(decoder.push(token.id));
}
process.stdout.write(`${decoder.flush()}\n`);
pipeline.model.gpu.device.destroy();
