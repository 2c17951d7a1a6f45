"""bench/launch_cost.py runs (in the interpreter stage: it stubs the interpreter's launches) and
puts the real launch back afterwards."""
import os

import pytest

pytestmark = pytest.mark.skipif(os.environ.get("TRITON_INTERPRET") != "1",
                                reason="stubs the Triton interpreter's launches")


def test_launch_cost_measures_both_calls_and_restores_the_launch():
    import launch_cost
    import triton.runtime.interpreter as interpreter
    run = interpreter.InterpretedFunction.run
    us = launch_cost.measure(iters=20, rounds=1)
    assert set(us) == {"fastgan linear_act", "torch F.linear + leaky_relu"}
    assert all(0 < t < 1e5 for t in us.values()), us
    assert interpreter.InterpretedFunction.run is run
