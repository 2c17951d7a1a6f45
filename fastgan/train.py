"""`python -m fastgan.train`: the train command (fastgan.run.command)."""
from fastgan.run.command import cli, main, parse  # noqa: F401

if __name__ == "__main__":
    cli()
