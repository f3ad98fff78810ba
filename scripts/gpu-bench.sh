#!/usr/bin/env bash
# The GPU benchmark run, on a Linux x86-64 machine with a GPU and its Vulkan driver but no Node.js:
# unpacks .devpack and the Vulkan loader + libglvnd from .gl/*.deb (both made by scripts/gpu-pack.sh),
# checks the model against the golden fixtures on that adapter, then runs `bench e2e` on the
# 3B-shaped synthetic checkpoint and `bench kernels`. Reports (JSON) and logs go to $OUT.
# Knobs: PRESET (pt-224), TOKENS (max new tokens, 64), RUNS (3), MODEL_DIR (/tmp/pg-model),
# KERNELS_ARGS (extra `bench kernels` options, e.g. --quick).
set -uo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
OUT=${OUT:-$REPO/gpu-out}
PRESET=${PRESET:-pt-224}
TOKENS=${TOKENS:-64}
RUNS=${RUNS:-3}
MODEL_DIR=${MODEL_DIR:-/tmp/pg-model}
W=$(mktemp -d)
mkdir -p "$OUT"
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-/tmp}
log() { echo "== $(date +%T) $*"; }

# The NVIDIA Vulkan driver (libGLX_nvidia) needs libglvnd beside the Vulkan loader; such an image
# may have the loader alone, so the packed .debs are unpacked whenever they are there.
for f in .gl/*.deb; do [ -f "$f" ] && dpkg -x "$f" /; done
ldconfig
icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
[ -f "$icd" ] && [ -z "${VK_DRIVER_FILES:-}" ] && export VK_DRIVER_FILES=$icd
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,clocks.sm,clocks.mem,driver_version --format=csv

log unpack
xz -dc .devpack/node.xz > "$W/node" && chmod +x "$W/node"
tar -xJf .devpack/app.tar.xz -C "$W"

log selfcheck
timeout 120 "$W/node" "$W/bin/paligemma.mjs" selfcheck \
  --fixture tests/fixtures/pg-tiny-v2048-224-sharded --fixture tests/fixtures/pg-tiny-v2048-224-newnames 2>&1 | tee "$OUT/selfcheck.log"

if command -v python3 >/dev/null && python3 -c 'import torch; assert torch.cuda.is_available()' 2>/dev/null; then
  log 'ceilings through PyTorch (same GPU, for reference)'
  timeout 60 python3 - <<'PY' 2>&1 | tee "$OUT/torch-ceilings.log"
import torch
torch.backends.cuda.matmul.allow_tf32 = False
def t(f, n=20):
    for _ in range(3): f()
    s, e = torch.cuda.Event(True), torch.cuda.Event(True)
    s.record()
    for _ in range(n): f()
    e.record(); torch.cuda.synchronize()
    return s.elapsed_time(e) / n
a = torch.randn(1 << 28, device='cuda'); b = torch.empty_like(a)
ms = t(lambda: b.copy_(a)); print(f'device copy: {2 * a.numel() * 4 / ms / 1e6:.0f} GB/s (read + write)')
ms = t(lambda: a.sum()); print(f'read (sum of 1 GiB f32): {a.numel() * 4 / ms / 1e6:.0f} GB/s')
for dt in (torch.float32, torch.bfloat16):
    x = torch.randn(4096, 4096, device='cuda', dtype=dt)
    ms = t(lambda: x @ x); print(f'{dt} GEMM 4096^3: {2 * 4096**3 / ms / 1e9:.0f} TFLOP/s')
PY
fi

log "make-checkpoint $PRESET"
[ -f "$MODEL_DIR/config.json" ] || timeout 300 "$W/node" "$W/bin/paligemma.mjs" make-checkpoint --preset "$PRESET" --seed 0 --out "$MODEL_DIR" 2>&1 | tail -2

log 'bench e2e'
timeout 300 "$W/node" "$W/bin/paligemma.mjs" bench e2e --model "$MODEL_DIR" --runs "$RUNS" --max-new-tokens "$TOKENS" --json > "$OUT/e2e.json" 2> "$OUT/e2e.log"
echo "exit $?"; tail -3 "$OUT/e2e.log"

log 'bench kernels'
timeout 240 "$W/node" "$W/bin/paligemma.mjs" bench kernels --peers none ${KERNELS_ARGS:-} --json > "$OUT/kernels.json" 2> "$OUT/kernels.log"
echo "exit $?"; tail -3 "$OUT/kernels.log"
log done
