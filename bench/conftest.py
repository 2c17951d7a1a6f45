import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import pytest  # noqa: E402

from common import CUDA, cuda_timer, environment  # noqa: E402


@pytest.fixture
def benchmark(benchmark):
    """pytest-benchmark, timed on CUDA by a clock that waits for the GPU at the two ends of a
    timed batch of calls only: no sync inside the timed function, launches overlap as in
    training."""
    if CUDA:
        benchmark._timer = cuda_timer
    return benchmark


def pytest_benchmark_update_machine_info(config, machine_info):
    machine_info.update(environment())
