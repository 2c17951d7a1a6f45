"""Where Triton's interpreter cannot run a kernel on the installed versions: the skip mark of the
tests that would fail there for that reason alone."""
import pytest


def _interpreter_limit():
    """Why Triton's interpreter cannot run the linear_act kernels here, or None. Before Triton
    3.9 the interpreter turns a scalar kernel argument into an int (the K loop's bound) with
    int() of a 1-element array, which NumPy 2.4 refuses (seen: Triton 3.6 fails with NumPy
    2.4.6, passes with 2.3.5 and 2.2.6; Triton 3.9 passes with 2.4.6)."""
    from fastgan.kernels._dispatch import INTERPRET
    if not INTERPRET:
        return None
    import numpy
    import triton
    version = lambda v: tuple(int(x) for x in v.split(".")[:2])
    if version(triton.__version__) < (3, 9) and version(numpy.__version__) >= (2, 4):
        return (f"Triton {triton.__version__}'s interpreter cannot loop over a kernel argument "
                f"with NumPy {numpy.__version__} (use NumPy < 2.4 or Triton >= 3.9)")
    return None


INTERPRETER_LIMIT = _interpreter_limit()
# on the tests that launch linear_act in the interpreter
runs_linear_act = pytest.mark.skipif(INTERPRETER_LIMIT is not None,
                                     reason=INTERPRETER_LIMIT or "")
