"""bench/gpu_session.sh, what the first minutes of a lent GPU run, checked here without one."""
import os
import subprocess
import sys
from pathlib import Path


def test_gpu_session_dry_run_checks_its_stages(mnist_dir, tmp_path):
    """bench/gpu_session.sh --dry-run (here, on the CPU): every file, flag and path its stages
    use checks out; a missing MNIST folder is named."""
    root = Path(__file__).resolve().parents[1]
    run = lambda data: subprocess.run(["bash", "bench/gpu_session.sh", "--dry-run"], cwd=root,
                                      capture_output=True, text=True, timeout=300,
                                      env={**os.environ, "FASTGAN_DATA": str(data), "PATH":
                                           f"{Path(sys.executable).parent}:{os.environ['PATH']}"})
    ok = run(mnist_dir)
    assert ok.returncode == 0 and "checks out" in ok.stdout, ok.stderr
    missing = run(tmp_path / "no-mnist")
    assert missing.returncode == 1 and "no MNIST in" in missing.stderr
