"""The 1-D picture's checks on exact densities, and a short run of the experiment."""
import json
import math

import numpy as np
import pytest

from fastgan.toy import density as d1
from fastgan.io.cli import run
from fastgan.toy.gan1d import (ToyConfig, Toy, check_dstar, check_equilibrium, check_value, main)


def snapshot(p_g_mean, p_g_sd, d=None):
    x = np.linspace(0, 8, 4000)
    p_data = d1.TARGETS["gaussian"].pdf(x)
    p_g = d1.Target([1.0], [p_g_mean], [p_g_sd]).pdf(x)
    dstar = p_data / (p_data + p_g)
    return {"x": x, "p_data": p_data, "p_g": p_g, "d": dstar if d is None else d(x, dstar)}


def test_optimal_d_passes_and_its_value_is_minus_log4_plus_2jsd():
    s = snapshot(3.5, 0.6)
    assert check_dstar(s, 0.05)["max_abs_gap"] < 1e-12
    v = check_value(s, 1e-6)
    assert v["passed"] and v["jsd"] > 0.05                  # p_g differs: JSD well above 0


def test_wrong_d_fails_checks_i_and_ii():
    s = snapshot(3.5, 0.6, d=lambda x, dstar: np.full_like(x, 0.5))   # an untrained D
    assert not check_dstar(s, 0.05)["passed"]
    v = check_value(s, 0.02)
    assert v["V"] == pytest.approx(-math.log(4), abs=1e-3) and not v["passed"]


def test_equilibrium_check():
    assert check_equilibrium(snapshot(4.0, 0.5), 0.1, 0.01)["passed"]
    assert check_equilibrium(snapshot(4.0, 0.5), 0.1, 0.01)["jsd"] < 1e-9
    assert not check_equilibrium(snapshot(4.3, 0.5), 0.1, 0.01)["passed"]
    assert not check_equilibrium(snapshot(4.0, 0.5, d=lambda x, s: s + 0.2), 0.1, 1.0)["passed"]


def test_kde_matches_the_density():
    rng = np.random.default_rng(0)
    x = np.linspace(0, 8, 4000)
    samples = rng.normal(4.0, 0.5, 100000)
    est = d1.kde(samples, x)
    true = d1.TARGETS["gaussian"].pdf(x)
    assert d1.integrate(est, x) == pytest.approx(1.0, abs=1e-4)
    # a KDE's own error: sampling noise with sd sqrt(p R(K) / (n h)), R(K) = 1 / (2 sqrt(pi)),
    # at the peak, plus the smoothing bias h^2 |p''| / 2 (|p''| <= p_max / sd^2 for a Gaussian)
    h = d1.bandwidth(samples)
    noise = math.sqrt(true.max() / (2 * math.sqrt(math.pi)) / (len(samples) * h))
    bias = h ** 2 * true.max() / 0.5 ** 2 / 2
    assert np.abs(est - true).max() < 5 * noise + bias
    assert d1.jsd(est, true, x) < 1e-3


SHORT = ["--warmup-steps", "40", "--d-steps", "40", "--g-steps", "5", "--train-steps", "40",
         "--n-kde", "20000", "--batch", "128"]


def test_short_run_writes_figure_and_numbers(tmp_path):
    rc = run(main, ["--out", str(tmp_path), *SHORT])
    assert rc in (0, 1)                                     # 1: a check failed (too short)
    from fastgan.io.images import read_png_size
    w, h = read_png_size(tmp_path / "figure1.png")
    assert w > 1000 and h > 200 and (tmp_path / "figure1.png").stat().st_size > 3000
    numbers = json.loads((tmp_path / "toy1d.json").read_text())
    assert set(numbers["panels"]) == {"a", "b", "c", "d"}
    assert set(numbers["checks"]) == {"i_dstar", "ii_value", "iii_equilibrium"}


def test_highest_density_region_skips_the_gap_between_modes():
    x = np.linspace(0, 8, 4001)
    p = d1.TARGETS["mixture"].pdf(x)
    region = d1.mass_region(p, x, 0.99)
    assert d1.integrate(np.where(region, p, 0.0), x) == pytest.approx(0.99, abs=2e-3)
    assert not region[np.abs(x - 4.0).argmin()]             # the gap: p ~ 1e-3
    assert region[np.abs(x - 2.5).argmin()] and region[np.abs(x - 5.5).argmin()]
    g = d1.TARGETS["gaussian"].pdf(x)                        # unimodal: the central interval
    inside = x[d1.mass_region(g, x, 0.99)]
    assert inside[0] == pytest.approx(4 - 2.5758 * 0.5, abs=4e-3)
    assert inside[-1] == pytest.approx(4 + 2.5758 * 0.5, abs=4e-3)


def test_barely_trained_d_fails_check_i():
    import torch
    toy = Toy(ToyConfig(n_kde=20000))
    toy.train_gan(ToyConfig.warmup_steps)                    # moment (a)
    torch.manual_seed(5)
    toy.D = toy.make_d()                                     # a fresh D, trained 5 steps
    toy.opt_d = torch.optim.Adam(toy.D.parameters(), lr=1e-3, betas=(0.5, 0.999))
    toy.train_d(5)
    s = toy.snapshot()
    assert not check_dstar(s, ToyConfig.tol_dstar)["passed"]
    assert not check_value(s, ToyConfig.tol_value)["passed"]


def test_same_seed_same_numbers(tmp_path):
    for name in ("a", "b"):
        assert run(main, ["--out", str(tmp_path / name), *SHORT]) in (0, 1)
    a, b = (json.loads((tmp_path / n / "toy1d.json").read_text()) for n in ("a", "b"))
    assert a["checks"] == b["checks"] and a["panels"] == b["panels"]


def test_bad_flags_exit_2(capsys):
    assert run(main, ["--d-hidden", "0"]) == 2
    assert "--d-hidden" in capsys.readouterr().err


def test_default_run_passes_all_three_checks(tmp_path):
    """`python -m fastgan.toy1d` with its defaults: every check passes; and the same tolerances
    reject a p_g estimate that is off (p_g's KDE shifted by a tenth of p_data's sd)."""
    assert run(main, ["--out", str(tmp_path)]) == 0
    numbers = json.loads((tmp_path / "toy1d.json").read_text())
    assert all(c["passed"] for c in numbers["checks"].values()), numbers["checks"]
    b = {k: np.asarray(v) for k, v in numbers["panels"]["b"].items()}
    shifted = dict(b, p_g=np.interp(b["x"] - 0.05, b["x"], b["p_g"], left=0.0, right=0.0))
    assert not check_dstar(shifted, ToyConfig.tol_dstar)["passed"]
    d = {k: np.asarray(v) for k, v in numbers["panels"]["d"].items()}
    for wrong in (d1.Target([1.0], [4.1], [0.5]), d1.Target([1.0], [4.0], [0.6])):
        off = dict(d, p_g=wrong.pdf(d["x"]))               # 0.2 sd off, or 20% too wide
        assert not check_equilibrium(off, ToyConfig.tol_half, ToyConfig.tol_jsd)["passed"]
