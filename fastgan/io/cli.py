"""Command-line plumbing shared by the entry points: one-line errors and exit codes."""
import argparse
import sys


class UserError(Exception):
    """A problem the user can fix (bad flag, missing file): one line, no traceback."""
    exit_code = 2


class DivergenceError(UserError):
    """Training produced a NaN or inf; the last good checkpoint is kept."""
    exit_code = 3


class Interrupted(UserError):
    """Ctrl-C or SIGTERM: a checkpoint was written first; 128 + SIGINT, as shells report it."""
    exit_code = 130


class Parser(argparse.ArgumentParser):
    """argparse, but a bad flag is answered with one line and exit code 2 (no usage dump)."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def run(main, argv=None) -> int:
    """Runs main(argv); a UserError becomes one line on stderr and its exit code."""
    try:
        return main(argv) or 0
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
