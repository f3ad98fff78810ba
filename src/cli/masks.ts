// `paligemma masks`: model text with <loc>/<seg> tokens → segmentation masks through the VQ-VAE
// decoder (vae-oid.npz), as safetensors and optionally PNGs.

import { MaskDecoder } from '../graph/mask-decoder.js';
import { decodeImage, type RgbImage } from '../image/decode.js';
import { textToMasks } from '../masks.js';
import { requestGpu } from '../node/gpu.js';
import { writeMaskPngs } from '../node/mask-files.js';
import { writeSafetensors } from '../node/write-safetensors.js';
import { int, num, parse, readInput, UsageError } from './args.js';

export const summary = 'decode the <seg> codewords of segmentation output into masks';

const USAGE = `usage: paligemma masks --vae FILE --text TEXT (--width W --height H | --image FILE) --out FILE.safetensors
        [--png DIR] [--divisor D]

  --vae FILE        the mask decoder, vae-oid.npz (big_vision's; stored or deflated)
  --text TEXT       the model's output, e.g. "<loc0100><loc0200><loc0800><loc0900><seg012>… cat ; …"
  --width, --height the image size the boxes refer to (default: --image's size)
  --image FILE      the image (for its size and as the background of the overlay)
  --out FILE        writes mask64 F32 [n,64,64] (raw decoder output), masks U8 [n,H,W],
                    codewords I32 [n,16], boxes I32 [n,4] (x1, y1, x2, y2; end exclusive)
  --png DIR         mask-<i>.png per object and overlay.png (masks and boxes on the image or white)
  --divisor D       location bins per side (default 1024 as in Google's demos; big_vision uses 1023)

Objects without 4 <loc> and 16 <seg> tokens are skipped; a box without area gets an all-zero mask.`;

export async function run(argv: string[]): Promise<number> {
  const { values: o } = parse(
    argv,
    {
      vae: { type: 'string' },
      text: { type: 'string' },
      width: { type: 'string' },
      height: { type: 'string' },
      image: { type: 'string' },
      out: { type: 'string' },
      png: { type: 'string' },
      divisor: { type: 'string' },
    },
    USAGE,
  );
  if (o.help) {
    console.log(USAGE);
    return 0;
  }
  if (!o.vae || o.text === undefined || !o.out) throw new UsageError(`--vae, --text and --out are required\n\n${USAGE}`);
  let image: RgbImage | undefined;
  if (o.image) image = decodeImage(await readInput(o.image, 'image'), o.image);
  if (!image && (o.width === undefined || o.height === undefined)) throw new UsageError(`give --width and --height (or --image)\n\n${USAGE}`);
  const width = int(o.width, 'width', image?.width ?? 0, 1);
  const height = int(o.height, 'height', image?.height ?? 0, 1);
  if (image && (image.width !== width || image.height !== height)) {
    throw new UsageError(`--image ${o.image} is ${image.width}×${image.height}, not the --width × --height ${width}×${height}`);
  }
  const divisor = num(o.divisor, 'divisor', 1024, 1);

  const bytes = await readInput(o.vae, 'mask decoder');
  const gpu = await requestGpu();
  const decoder = await MaskDecoder.fromNpz(gpu, o.vae, bytes);
  const masks = await textToMasks(decoder, o.text, width, height, { divisor });
  const n = masks.length;
  const side = decoder.maskSize;
  const cat = <T extends Float32Array | Uint8Array>(parts: T[], out: T) => (parts.forEach((p, i) => out.set(p, i * p.length)), out);
  await writeSafetensors(o.out, [
    { name: 'mask64', shape: [n, side, side], data: cat(masks.map((m) => m.mask64), new Float32Array(n * side * side)) },
    { name: 'masks', shape: [n, height, width], data: cat(masks.map((m) => m.mask), new Uint8Array(n * height * width)) },
    { name: 'codewords', shape: [n, decoder.codewords], data: Int32Array.from(masks.flatMap((m) => m.codewords)) },
    { name: 'boxes', shape: [n, 4], data: Int32Array.from(masks.flatMap((m) => [m.box.x1, m.box.y1, m.box.x2, m.box.y2])) },
  ]);
  for (const m of masks) console.error(`  ${m.label || '(no label)'}: box (${m.box.x1}, ${m.box.y1}) – (${m.box.x2}, ${m.box.y2}), ${m.area} px`);
  console.error(`wrote ${n} mask${n === 1 ? '' : 's'} to ${o.out}`);
  if (o.png) {
    const files = await writeMaskPngs(o.png, masks, { width, height }, image);
    console.error(`wrote ${files.length} PNGs to ${o.png}`);
  }
  decoder.destroy();
  return 0;
}
