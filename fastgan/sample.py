"""`python -m fastgan.sample`: the sample command (fastgan.eval.sample_command)."""
from fastgan.eval.sample_command import cli, main  # noqa: F401

if __name__ == "__main__":
    cli()
