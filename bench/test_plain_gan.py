"""The plain PyTorch GAN baseline executes, evaluates on schedule, and summarizes over seeds
(tiny, with a stand-in evaluator); its scores come from running bench/plain_gan.py."""
import numpy as np
import torch

from plain_gan import build, summary, train


class FakeEvaluator:
    """The evaluator's interface: training images, scores of a sample set, Parzen."""

    def __init__(self):
        self.train = np.random.default_rng(0).uniform(-1, 1, (50000, 784)).astype(np.float32)
        self.scored = []

    def scores(self, x):
        self.scored.append(x.shape)
        hist = [1000] * 9 + [len(x) - 9000]
        return {"fid": 40.0 - 5 * len(self.scored), "is": 2.0, "modes": 10, "histogram": hist}

    def parzen(self, x):
        return {"mean": -10.0, "stderr": 1.0}


def test_build_matches_the_default_sizes_and_steps():
    G, D, step = build(torch.device("cpu"))
    assert [m.weight.shape[1] for m in G if hasattr(m, "weight")] == [100, 256, 512, 1024]
    assert [m.weight.shape[0] for m in D if hasattr(m, "weight")] == [512, 256, 1]
    before = [p.clone() for p in G.parameters()]
    d_loss, g_loss = step(torch.rand(5, 784) * 2 - 1)
    assert torch.isfinite(d_loss) and torch.isfinite(g_loss)
    assert all(not torch.equal(a, b) for a, b in zip(before, G.parameters()))


def test_train_evaluates_on_schedule_and_summarizes():
    ev = FakeEvaluator()
    runs = [train(s, 5, 2, ev, torch.device("cpu"), batch=16, log=lambda *a: None)
            for s in (0, 1)]
    assert [e["step"] for e in runs[0]["evals"]] == [2, 4, 5]
    assert ev.scored == [(10000, 784)] * 6
    assert runs[0]["final"]["parzen"]["mean"] == -10.0
    assert runs[0]["final"]["class_max"] == 0.1 and runs[0]["final"]["class_min"] == 0.1
    s = summary(runs)
    assert s["fid"][0] == np.mean([r["final"]["fid"] for r in runs])
    assert s["steps_to_fid_30"] == [3.0, np.sqrt(2.0)]   # FID 35, 30, 25 (seed 0), 20, 15, 10 (seed 1)
    assert s["steps_to_fid_10"] == "1/2 seeds"
