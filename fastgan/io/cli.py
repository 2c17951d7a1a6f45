"""Command-line plumbing shared by the entry points: one-line errors and exit codes."""
import argparse
import sys


class UserError(Exception):
    """A problem the user can fix (bad flag, missing file): one line, no traceback."""
    exit_code = 2


class BadValue(UserError, ValueError):
    """A value out of its range (a flag, a config field, an API argument): a ValueError too."""


class BadType(UserError, TypeError):
    """A value of the wrong type (an API argument, a config field set in code): a TypeError too."""


class WriteError(UserError):
    """The operating system refused a write (a full disk, no permission, --out a file): one
    line naming the path; what was written before stays."""
    exit_code = 4


def os_fault(e: OSError, hint: str = "") -> WriteError:
    """An OSError as one line: the path, the system's reason, and what to do."""
    import errno
    where = e.filename or "a file"
    why = e.strerror or str(e)
    todo = {errno.ENOSPC: "free some space", errno.EDQUOT: "free some space",
            errno.EACCES: "choose a folder you may write to (--out)",
            errno.EPERM: "choose a folder you may write to (--out)",
            errno.EROFS: "choose a writable folder (--out)",
            errno.ENOTDIR: "a file stands where a folder is needed: choose another --out",
            errno.EEXIST: "a file stands where a folder is needed: choose another --out",
            errno.EISDIR: "a folder stands where a file is needed: choose another --out"}
    advice = todo.get(e.errno, "")
    return WriteError(f"cannot write {where}: {why}" + (f"; {advice}" if advice else "")
                      + (f"; {hint}" if hint else ""))


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
    except OSError as e:                     # the operating system's fault, not a bug: one line
        print(f"error: {os_fault(e)}", file=sys.stderr)
        return WriteError.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
