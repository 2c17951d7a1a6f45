"""`python -m fastgan.eval`: score a checkpoint (fastgan.eval.eval_command)."""
from fastgan.eval.eval_command import cli

cli()
