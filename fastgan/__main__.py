import sys

from fastgan.io.cli import run
from fastgan.run.command import main

sys.exit(run(main))
