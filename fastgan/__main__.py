import sys

from fastgan.cli import run
from fastgan.train import main

sys.exit(run(main))
