"""`python -m fastgan.toy1d`: the 1-D figure (fastgan.toy.gan1d)."""
from fastgan.toy.gan1d import cli, main  # noqa: F401

if __name__ == "__main__":
    cli()
