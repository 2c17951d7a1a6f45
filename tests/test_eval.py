import json
import math
import subprocess
import sys

import numpy as np
import pytest

from conftest import ROOT
from fastgan.io.cli import run
from fastgan.eval.parzen import log_likelihoods, parzen
from fastgan.eval.scores import frechet_distance, inception_score, modes_covered


def test_parzen_matches_direct_numpy():
    rng = np.random.default_rng(0)
    s, x = rng.random((37, 5)), rng.random((11, 5))
    sigmas = [0.1, 0.3, 1.0]
    got = log_likelihoods(s, x, sigmas, max_bytes=8 * 37 * 3 * 4)   # forces blocks of 4 rows
    for i, sg in enumerate(sigmas):
        dens = np.exp(-((x[:, None, :] - s[None]) ** 2).sum(-1) / (2 * sg ** 2)).mean(1)
        want = np.log(dens / (2 * math.pi * sg ** 2) ** 2.5)
        np.testing.assert_allclose(got[i], want, rtol=1e-10, err_msg=f"sigma {sg}")
    r = parzen(s, x[:5], x, sigmas)
    assert r["sigma"] == sigmas[int(np.argmax(got[:, :5].mean(1)))]
    assert r["mean"] == pytest.approx(got[sigmas.index(r["sigma"])].mean(), rel=1e-12)
    assert r["stderr"] == pytest.approx(got[sigmas.index(r["sigma"])].std(ddof=1) / math.sqrt(11))


def test_parzen_is_finite_far_from_every_sample():
    # log-sum-exp: a point 100 sigmas away still gets a finite (very negative) log-likelihood
    ll = log_likelihoods(np.zeros((3, 2)), np.full((1, 2), 10.0), [0.1])
    assert np.isfinite(ll).all() and ll[0, 0] < -5000


def test_frechet_distance_self_zero_and_grows_with_shift():
    f = np.random.default_rng(1).normal(size=(4000, 16))
    assert abs(frechet_distance(f, f)) < 1e-8
    d = [frechet_distance(f, f + s) for s in (0.1, 0.5, 1.0)]
    assert d[0] < d[1] < d[2]
    assert d[2] == pytest.approx(16 * 1.0 ** 2, rel=1e-6)   # a pure mean shift: |dmu|^2


@pytest.mark.parametrize("c", [1, 2, 7, 10])
def test_inception_score_of_even_one_hot_is_c(c):
    probs = np.zeros((10 * c, 10))
    probs[np.arange(10 * c), np.arange(10 * c) % c] = 1.0
    assert inception_score(probs) == pytest.approx(c, rel=1e-9)
    assert modes_covered(probs) == c


@pytest.fixture(scope="module")
def evaluator(mnist_dir):
    from fastgan.eval.evaluator import Evaluator
    return Evaluator(str(mnist_dir), "cpu")


def test_classifier_accuracy_and_real_modes(evaluator):
    from fastgan.eval.classifier import accuracy
    acc = accuracy(evaluator.model, evaluator.test, evaluator.test_y)
    assert acc >= 0.99, f"classifier test accuracy {acc:.4f}"
    real = evaluator.scores(evaluator.train[:3000])
    assert real["modes"] == 10 and real["is"] > 8.5 and real["fid"] < 10
    noise = evaluator.scores(np.random.default_rng(0).uniform(-1, 1, (3000, 784)))
    assert noise["fid"] > 10 * real["fid"]


def cli(*args):
    return subprocess.run([sys.executable, "-m", "fastgan.eval", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)


@pytest.mark.parametrize("make, says", [
    (lambda d: ["--checkpoint", str(d / "none.pt")], "not found"),
    (lambda d: ["--samples", str(d / "none.npy")], "not found"),
    (lambda d: ["--samples", str(_write(d / "bad.npy", b"not numpy"))], "not a .npy file"),
    (lambda d: ["--samples", str(_write(d / "cut.npy", _npy_bytes(d)[:150]))], "truncated"),
    (lambda d: ["--samples", str(_objects(d / "obj.npy"))], "holds Python objects"),
    (lambda d: ["--samples", str(_npy(d / "shape.npy", np.zeros((5, 10))))], "shape"),
    (lambda d: ["--samples", str(_npy(d / "range.npy", np.full((5, 784), 3.0)))], "[-1, 1]"),
    (lambda d: ["--samples", str(_npy(d / "ok.npy", np.zeros((5, 784)))), "--data-dir",
                str(d / "no-data")], "does not exist"),
    (lambda d: [], "one of the arguments"),
])
def test_eval_cli_bad_input(tmp_path, make, says):
    r = cli(*make(tmp_path))
    assert r.returncode == 2, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and says in r.stderr, r.stderr
    assert "allow_pickle" not in r.stderr and "pickle.load" not in r.stderr   # no unsafe advice


def _write(path, raw):
    path.write_bytes(raw)
    return path


def _npy(path, arr):
    np.save(path, arr)
    return path


def test_eval_cli_on_samples(tmp_path, mnist_dir, evaluator):
    from fastgan.io.images import read_png_size
    np.save(tmp_path / "s.npy", evaluator.train[:500])
    r = cli("--samples", str(tmp_path / "s.npy"), "--data-dir", str(mnist_dir), "--out",
            str(tmp_path / "ev"))
    assert r.returncode == 0, r.stderr
    assert "| samples |" in r.stdout and "| real train[:10000] |" in r.stdout
    rows = json.loads((tmp_path / "ev" / "eval.json").read_text())["rows"]
    assert rows["samples"]["modes"] == 10
    assert read_png_size(tmp_path / "ev" / "eval.png")[0] > 302


def test_target_fid_stops_training(tmp_path, mnist_dir, evaluator):
    from fastgan.run.command import main
    out = tmp_path / "run"
    rc = run(main, ["--device", "cpu", "--data-dir", str(mnist_dir), "--train-size", "640",
                    "--batch-size", "64", "--k", "1", "--epochs", "5", "--target-fid", "1e9", "--out", str(out), "--no-progress",
                    "--no-tensorboard"])
    assert rc == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["steps"] == 10 and summary["target"]["step"] == 10    # one epoch of 10
    records = [json.loads(l) for l in (out / "metrics.jsonl").read_text().splitlines()]
    assert any("fid" in r for r in records)
    from PIL import Image
    with Image.open(out / "curves.png") as im:              # a third panel: FID against steps
        assert im.size == (1650, 380)


def test_shipped_classifier_loads_without_training(tmp_path, mnist_dir, monkeypatch):
    from fastgan.eval import classifier
    from fastgan.eval.evaluator import Evaluator
    from fastgan.io.files import digest
    monkeypatch.setenv("FASTGAN_CACHE", str(tmp_path / "empty-cache"))

    def no_training(*a, **k):
        raise AssertionError("the shipped classifier should have been used")
    monkeypatch.setattr(classifier, "train_classifier", no_training)
    assert digest(classifier.SHIPPED) == classifier.SHIPPED_SHA256
    ev = Evaluator(str(mnist_dir), "cpu")
    assert classifier.accuracy(ev.model, ev.test, ev.test_y) == pytest.approx(0.992, abs=5e-4)
    real = ev.scores(ev.train[:10000])                # the README's reference row
    assert real["fid"] == pytest.approx(2.46, abs=0.01) and real["modes"] == 10
    assert not (tmp_path / "empty-cache").exists()


def test_a_damaged_shipped_classifier_is_retrained_saying_so(tmp_path, monkeypatch):
    from fastgan.eval import classifier
    bad = tmp_path / "shipped.pt"
    bad.write_bytes(classifier.SHIPPED.read_bytes()[:-10])
    monkeypatch.setattr(classifier, "SHIPPED", bad)
    monkeypatch.setenv("FASTGAN_CACHE", str(tmp_path / "cache"))
    trained = []
    monkeypatch.setattr(classifier, "train_classifier",
                        lambda *a, **k: trained.append(1) or classifier.Classifier().eval())
    said = []
    x, y = np.zeros((4, 784), np.float32), np.zeros(4, np.int64)
    classifier.load_or_train(x, y, log=said.append)
    assert trained and "fails its SHA-256" in said[0]
    assert classifier.cache_path(0).is_file()
    trained.clear()
    classifier.load_or_train(x, y, log=said.append)          # the cached one now
    assert not trained
    classifier.load_or_train(x, y, log=said.append, retrain=True)
    assert trained


def _npy_bytes(d):
    return _npy(d / "whole.npy", np.zeros((50, 784), np.float32)).read_bytes()


def _objects(path):
    np.save(path, np.array([{"not": "floats"}], dtype=object), allow_pickle=True)
    return path


def test_sample_and_eval_reject_by_the_checkpoints_d(tmp_path, mnist_dir, evaluator):
    """`--reject Q` in fastgan.sample and fastgan.eval: the samples the checkpoint's D keeps,
    the same as the API's, and the share kept reported."""
    import fastgan
    from fastgan.run.command import main
    out = tmp_path / "run"
    assert run(main, ["--device", "cpu", "--data-dir", str(mnist_dir), "--train-size", "640",
                      "--batch-size", "64", "--k", "1", "--steps", "3", "--no-eval",
                      "--out", str(out), "--no-progress", "--no-tensorboard"]) == 0
    r = subprocess.run([sys.executable, "-m", "fastgan.sample", "--checkpoint", str(out),
                        "--n", "17", "--reject", "0.5", "--seed", "3", "--out",
                        str(tmp_path / "x.npy")], cwd=ROOT, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0 and "D kept" in r.stdout, r.stderr
    G, D = fastgan.load_generator(out), fastgan.load_discriminator(out)
    want = fastgan.generate(G, 17, seed=3, D=D, reject=0.5)
    assert np.array_equal(np.load(tmp_path / "x.npy"), want)
    r = cli("--checkpoint", str(out), "--n", "200", "--reject", "0.5", "--data-dir",
            str(mnist_dir), "--out", str(tmp_path / "ev"))
    assert r.returncode == 0 and "D kept" in r.stdout, r.stderr
    row = json.loads((tmp_path / "ev" / "eval.json").read_text())["rows"]["samples"]
    assert row["reject"] == 0.5 and 0.5 <= row["kept"] <= 1 and sum(row["histogram"]) == 200
