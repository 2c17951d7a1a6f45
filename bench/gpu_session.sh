#!/usr/bin/env bash
# Everything that needs a CUDA GPU, in stages that each fit a short lease (10 min a call):
#   tests    the CUDA kernel tests (tf32/bf16/ieee) and the CPU-vs-GPU parity tests
#   kernels  the kernel benchmarks -> bench/results/kernels.{json,md}, README block
#   train    the end-to-end benchmark -> bench/results/train_speed.{json,md}, README block,
#            and a one-epoch training run (plain compiled, then with CUDA graphs)
#   sweep    member-steps/s of E = 1..64 members on the GPU -> bench/results/sweep_speed_cuda.*,
#            and a one-epoch 8-seed sweep on CUDA (fastgan.sweep, scored)
# usage: [FASTGAN_DATA=DIR] bash bench/gpu_session.sh OUTDIR [tests] [kernels] [train] [sweep]
# MNIST: $FASTGAN_DATA, else .mnist/ in the repo (git-ignored: carry it to the GPU machine).
# Triton's cache lives in .triton-cache/ (or $TRITON_CACHE_DIR) so later stages reuse the
# compiles of earlier ones. The exit status is 1 when any stage (or any run in it) failed.
# Logs and results are copied flat into OUTDIR (at most 8 files per stage).
set -uo pipefail
out=${1:?usage: bench/gpu_session.sh OUTDIR [tests] [kernels] [train] [sweep]}
shift
mkdir -p "$out"
cd "$(dirname "$0")/.."
export PYTHONPATH=. PYTHONUNBUFFERED=1
export TRITON_CACHE_DIR=${TRITON_CACHE_DIR:-$PWD/.triton-cache}
export FASTGAN_DATA=${FASTGAN_DATA:-$PWD/.mnist}
if [ ! -f "$FASTGAN_DATA/train-images-idx3-ubyte.gz" ]; then
  echo "error: no MNIST in $FASTGAN_DATA (set FASTGAN_DATA or carry .mnist/)" >&2
  exit 2
fi
stages=${*:-tests kernels train sweep}
status=0
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm,temperature.gpu \
    --format=csv > "$out/gpu.txt" 2>&1 || echo "no nvidia-smi" > "$out/gpu.txt"
python -c "import torch, triton; print(torch.__version__, triton.__version__, torch.cuda.get_device_name())" >> "$out/gpu.txt"
for stage in $stages; do
  case $stage in
    tests)
      python -m pytest -q -p no:cacheprovider tests/test_kernels.py tests/test_parity.py \
          2>&1 | tee "$out/tests.log" | tail -15 || status=1 ;;
    kernels)
      python -m pytest -q -p no:cacheprovider bench/test_linear_act.py bench/test_sigmoid_bce.py \
          --benchmark-only --benchmark-max-time=0.25 --benchmark-json=bench/results/kernels.json \
          > "$out/kernels.log" 2>&1 || status=1
      tail -3 "$out/kernels.log"
      python bench/report.py bench/results/kernels.json --readme README.md || status=1
      cp bench/results/kernels.json bench/results/kernels.md "$out/" ;;
    train)
      python bench/train_speed.py --save --readme README.md 2>&1 | tee "$out/train_speed.log" \
          || status=1
      cp bench/results/train_speed.json bench/results/train_speed.md "$out/"
      for graphs in --no-cuda-graphs --cuda-graphs; do
        python -m fastgan.train --device cuda --epochs 1 --eval-every 1 $graphs \
            --no-progress --out "/tmp/fastgan-run$graphs" > "$out/train$graphs.log" 2>&1 \
            || status=1
        tail -4 "$out/train$graphs.log"
      done > "$out/train.log" 2>&1
      cat "$out/train.log" ;;
    sweep)
      timeout 300 python bench/sweep_speed.py --cuda --scaling 1,4,16,64 --steps 100 --save \
          2>&1 | tee "$out/sweep_speed.log" | tail -8 || status=1
      cp bench/results/sweep_speed_cuda.json bench/results/sweep_speed_cuda.md "$out/" 2>/dev/null
      timeout 280 python -m fastgan.sweep --device cuda --seeds 0-7 --epochs 1 --no-progress \
          --out /tmp/fastgan-sweep > "$out/sweep.log" 2>&1 || status=1
      tail -14 "$out/sweep.log" ;;
    *) echo "unknown stage $stage" >&2; exit 2 ;;
  esac
done
cp README.md "$out/"
exit $status
