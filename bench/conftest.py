import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from common import environment  # noqa: E402


def pytest_benchmark_update_machine_info(config, machine_info):
    machine_info.update(environment())
