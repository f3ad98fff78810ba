// @ts-check
// Detect objects and draw their boxes over the image into a PNG.
// Run: node examples/detect.mjs MODEL [IMAGE] [OBJECTS] [OUT.png]
//   OBJECTS: what to look for, "circle ; square" (PaliGemma's "detect" task)
import { readFile, writeFile } from 'node:fs/promises';
import { decodeImage, loadModel, overlayMasks, pixelBox, pngBytes } from 'paligemma-webgpu';

const [model, imageFile = 'examples/shapes.png', objects = 'circle ; square', out = 'detections.png'] = process.argv.slice(2);
if (!model) {
  console.error('usage: node examples/detect.mjs MODEL [IMAGE] [OBJECTS] [OUT.png]');
  process.exit(2);
}
const { pipeline } = await loadModel(model);
const image = decodeImage(await readFile(imageFile), imageFile);
const [result] = await pipeline.run([{ image, prompt: `detect ${objects}` }], { maxNewTokens: 24 });
for (const d of result.detections) {
  console.log(`${d.label}: (${d.x0.toFixed(0)}, ${d.y0.toFixed(0)}) – (${d.x1.toFixed(0)}, ${d.y1.toFixed(0)})`);
}
if (result.detections.length === 0) console.log(`no boxes in the model's output: ${JSON.stringify(result.text)}`);
// Boxes in whole pixels, each outlined in its own colour (overlayMasks draws masks too, when given).
const drawn = overlayMasks(image, result.detections.map((d) => ({ box: pixelBox(d, image.width, image.height) })));
await writeFile(out, pngBytes(drawn.width, drawn.height, drawn.rgb, 3));
console.log(`wrote ${out}`);
pipeline.model.gpu.device.destroy();
