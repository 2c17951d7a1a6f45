#!/usr/bin/env bash
# Everything that needs a CUDA GPU, in stages that each fit a short lease:
#   run      the main job on CUDA: fastgan.train for --steps $RUN_STEPS (default 300), compiled,
#            then the same with --cuda-graphs, each scored at its end
#   tests    the CUDA kernel tests (tf32/bf16/ieee), the CPU-vs-GPU parity tests, the Philox
#            streams and the draws inside the kernels, the eager calls' plans, the ops traced by
#            torch.compile against eager, and a GAN on the kernels
#            (in $TEST_WORKERS processes when pytest-xdist is there, default 8; each test
#            stopped after $TEST_TIMEOUT s with pytest-timeout)
#   kernels  the kernel benchmarks -> bench/results/kernels.{json,md}, docs/benchmarks.md block
#            ($KERNEL_BENCH_ARGS: a pytest -k filter, e.g. "tf32 and not compile")
#   train    the end-to-end benchmark -> bench/results/train_speed.{json,md}, docs/benchmarks.md
#            block ($TRAIN_SPEED_ARGS are passed on, e.g. "--modes eager,compile,fastgan")
#   profile  wall time against the kernels' own time of one op call, fastgan and eager
#            (bench/profile_ops.py -> bench/results/profile_ops.{json,md})
#   sweep    member-steps/s of E = 1..64 default members in whole-step CUDA graphs, memory and
#            kernels a step -> bench/results/sweep_speed_cuda.*, and a one-epoch 8-seed sweep on
#            CUDA with --cuda-graphs (fastgan.sweep, scored)
#   step     Algorithm 1's default step (k = 2) at batch 256 and 64: fastgan eager, compiled and
#            as one CUDA graph (1 and 10 steps a replay) against the plain PyTorch GAN eager,
#            compiled and reduce-overhead, and a profile of one replay
#            -> bench/results/gpu/step.{json,md} ($STEP_ARGS are passed on; about 5 minutes)
# usage: [FASTGAN_DATA=DIR] [STAGE_LIMIT=S] bash bench/gpu_session.sh OUTDIR [stage ...]
#        bash bench/gpu_session.sh --dry-run   (here, on the CPU: checks every file, flag and
#        path the stages use, and that the tests they run collect; runs nothing on a GPU)
# Each stage is stopped after $STAGE_LIMIT seconds (default 540), so a hung compile cannot eat
# the lease, and the stages after it still run.
# MNIST: $FASTGAN_DATA, else .mnist/ in the repo (git-ignored: carry it to the GPU machine).
# Triton's cache lives in .triton-cache/ (or $TRITON_CACHE_DIR) so later stages reuse the
# compiles of earlier ones. The benchmarks name the commit from git, else $FASTGAN_COMMIT (the
# device machine gets the working tree without .git). The exit status is 1 when any stage (or
# any run in it) failed. Logs and results are copied flat into OUTDIR.
set -uo pipefail
if [ "${1:-}" = "--dry-run" ]; then
  cd "$(dirname "$0")/.."
  export PYTHONPATH=. FASTGAN_DATA=${FASTGAN_DATA:-$PWD/.mnist}
  bad=0
  for f in tests/test_kernels.py tests/test_parity.py tests/test_member_random.py \
      tests/test_interpreter_training.py tests/test_compile.py tests/test_launch_args.py \
      bench/test_linear_act.py \
      bench/test_sigmoid_bce.py bench/report.py bench/train_speed.py bench/sweep_speed.py \
      bench/profile_ops.py bench/step_speed.py tests/test_graphs.py tests/test_fused_dropout.py \
      tests/test_eager_calls.py \
      docs/benchmarks.md bench/results; do
    [ -e "$f" ] || { echo "dry-run: missing $f" >&2; bad=1; }
  done
  [ -f "$FASTGAN_DATA/train-images-idx3-ubyte.gz" ] || {
    echo "dry-run: no MNIST in $FASTGAN_DATA (the session needs it carried)" >&2; bad=1; }
  for marker in kernels train; do
    grep -q "<!-- $marker:start -->" docs/benchmarks.md || {
      echo "dry-run: docs/benchmarks.md has no $marker block" >&2; bad=1; }
  done
  python -m pytest -q --collect-only -p no:cacheprovider tests/test_kernels.py \
      tests/test_member_random.py tests/test_interpreter_training.py \
      tests/test_parity.py tests/test_compile.py tests/test_launch_args.py tests/test_graphs.py \
      tests/test_fused_dropout.py tests/test_eager_calls.py \
      bench/test_linear_act.py bench/test_sigmoid_bce.py > /dev/null \
      || { echo "dry-run: the stages' tests do not collect" >&2; bad=1; }
  python - <<'PY' || bad=1
import subprocess, sys
from fastgan.run.command import parse as train_flags
from fastgan.sweep.__main__ import parse as sweep_flags
used = {"bench/train_speed.py": ["--save", "--readme"],
        "bench/sweep_speed.py": ["--cuda", "--scaling", "--steps", "--save"],
        "bench/report.py": ["--readme"], "bench/profile_ops.py": ["--save"],
        "bench/step_speed.py": ["--profile", "--save"]}
for script, flags in used.items():
    text = subprocess.run([sys.executable, script, "--help"], capture_output=True, text=True).stdout
    for f in flags:
        if f not in text:
            sys.exit(f"dry-run: {script} has no {f}")
for graphs in ("--no-cuda-graphs", "--cuda-graphs"):
    train_flags(["--device", "cuda", "--steps", "300", graphs, "--graph-steps", "10",
                 "--no-progress", "--out", "/tmp/fastgan-run" + graphs])
sweep_flags(["--device", "cuda", "--cuda-graphs", "--graph-steps", "10", "--seeds", "0-7",
             "--epochs", "1", "--no-progress",
             "--out", "/tmp/fastgan-sweep"])
PY
  [ $bad = 0 ] && echo "dry-run: every file, flag and path of the stages checks out"
  exit $bad
fi
out=${1:?usage: bench/gpu_session.sh OUTDIR [run] [tests] [profile] [kernels] [train] [sweep] [step]}
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
stages=${*:-run tests profile kernels train sweep step}
limit=${STAGE_LIMIT:-540}
workers=()
per_test=()
python -c "import xdist" 2>/dev/null && workers=(-n "${TEST_WORKERS:-8}" -v)
python -c "import pytest_timeout" 2>/dev/null && per_test=(--timeout "${TEST_TIMEOUT:-150}")
timeout_py() { timeout --kill-after=10 "$limit" python "$@"; }
status=0
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm,temperature.gpu \
    --format=csv > "$out/gpu.txt" 2>&1 || echo "no nvidia-smi" > "$out/gpu.txt"
python -c "import torch, triton; print(torch.__version__, triton.__version__, torch.cuda.get_device_name())" >> "$out/gpu.txt"
for stage in $stages; do
  case $stage in
    run)
      for graphs in --no-cuda-graphs --cuda-graphs; do
        timeout_py -m fastgan.train --device cuda --steps "${RUN_STEPS:-300}" $graphs \
            --graph-steps 10 \
            --no-progress --out "/tmp/fastgan-run$graphs" > "$out/run$graphs.log" 2>&1 \
            || { echo "run $graphs: exit $?"; status=1; }
        echo "== fastgan.train $graphs"; tail -12 "$out/run$graphs.log"
      done ;;
    tests)   # each failure's traceback goes to failures.log as it happens (tests/conftest.py);
             # xdist's -v names each failure as it comes ("[gw3] [ 12%] FAILED tests/..."),
             # printed here, since only a few files come back from a device call
      FASTGAN_FAILURE_LOG="$out/failures.log" timeout_py -m pytest -rfE --tb=short \
          -p no:cacheprovider "${workers[@]}" "${per_test[@]}" tests/test_kernels.py \
          tests/test_parity.py tests/test_member_random.py tests/test_interpreter_training.py \
          tests/test_compile.py tests/test_launch_args.py tests/test_graphs.py \
          tests/test_fused_dropout.py tests/test_eager_calls.py 2>&1 \
          | grep -v "Benchmark" \
          | tee "$out/tests.log" | grep -E "(^|\] )(FAILED|ERROR) |passed|failed" || status=1 ;;
    kernels)
      timeout_py -m pytest -q -p no:cacheprovider bench/test_linear_act.py bench/test_sigmoid_bce.py \
          --benchmark-only --benchmark-max-time=0.25 --benchmark-json=bench/results/kernels.json \
          ${KERNEL_BENCH_ARGS:+-k "$KERNEL_BENCH_ARGS"} \
          > "$out/kernels.log" 2>&1 || status=1
      tail -3 "$out/kernels.log"
      python bench/report.py bench/results/kernels.json --readme docs/benchmarks.md || status=1
      cp bench/results/kernels.json bench/results/kernels.md "$out/" ;;
    train)
      # shellcheck disable=SC2086
      timeout_py bench/train_speed.py --save --readme docs/benchmarks.md ${TRAIN_SPEED_ARGS:-} \
          2>&1 | tee "$out/train_speed.log" || status=1
      cp bench/results/train_speed.json bench/results/train_speed.md "$out/" ;;
    profile)
      timeout_py bench/profile_ops.py --save 2>&1 | tee "$out/profile_ops.log" || status=1
      cp bench/results/profile_ops.json bench/results/profile_ops.md "$out/" 2>/dev/null ;;
    sweep)
      timeout_py bench/sweep_speed.py --cuda --scaling 1,4,16,64 --steps 100 --save \
          2>&1 | tee "$out/sweep_speed.log" | tail -8 || status=1
      cp bench/results/sweep_speed_cuda.json bench/results/sweep_speed_cuda.md "$out/" 2>/dev/null
      timeout_py -m fastgan.sweep --device cuda --cuda-graphs --graph-steps 10 --seeds 0-7 \
          --epochs 1 --no-progress \
          --out /tmp/fastgan-sweep > "$out/sweep.log" 2>&1 || status=1
      tail -14 "$out/sweep.log" ;;
    step)
      # shellcheck disable=SC2086
      timeout_py bench/step_speed.py --profile --save ${STEP_ARGS:-} 2>&1 \
          | tee "$out/step_speed.log" || status=1
      cp bench/results/gpu/step.json bench/results/gpu/step.md "$out/" 2>/dev/null ;;
    *) echo "unknown stage $stage" >&2; exit 2 ;;
  esac
done
# the device tool returns only a few files: docs/benchmarks.md only where a stage rewrote it
case " $stages " in *" kernels "*|*" train "*) cp docs/benchmarks.md "$out/" ;; esac
exit $status
