"""Whole-step CUDA graphs (fastgan.graphs).

Without a GPU (TRITON_INTERPRET=1, the CUDA code path: Triton kernels in the interpreter, the
members' counted Philox streams), a stand-in for torch.cuda.graph: its capture runs the steps
while recording every launch and then puts the device state back (a capture runs nothing, but
the host's Python runs through), and each replay runs them again with the host's counts put
back, asserting it launches exactly what the capture launched, argument for argument (what a
CUDA graph replays). Trained through GraphedSteps, every member must equal train_step run
eagerly, bit for bit: the host's mirrored counts, the epoch starts and the keys of the graphs
are right. On CUDA: the real graphs against eager (skipped here)."""
import contextlib
import sys
from pathlib import Path

import pytest
import torch

from fastgan import kernels
from fastgan.config import ModelConfig, TrainConfig
from fastgan.data import Batches
from fastgan.gan import GAN
from fastgan.graphs import GraphedSteps, host_counts, set_host_counts
from fastgan.kernels._dispatch import INTERPRET
from fastgan.step import Stats, train_step
from fastgan.streams import Streams
from triton_limits import runs_linear_act

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
TINY = ModelConfig(latent_dim=16, g_hidden=(32, 48), d_hidden=(40,), image_dim=48)  # fast
CUDA = torch.cuda.is_available()


def _device_state(gan, batches, stats) -> list[torch.Tensor]:
    """Every tensor a step changes in place."""
    out = [*gan.G.state_dict().values(), *gan.D.state_dict().values(),
           *gan.opt_g.exp_avg, *gan.opt_g.exp_avg_sq, gan.opt_g.steps,
           *gan.opt_d.exp_avg, *gan.opt_d.exp_avg_sq, gan.opt_d.steps,
           gan.streams._bases, batches._start, stats.d, stats.g]
    if gan.ema is not None:
        out += [*gan.G_ema.state_dict().values(), gan.ema._t]
    if gan.schedule is not None:
        out.append(gan.schedule.step)
    return out


class ReplayGraphs:
    """torch.cuda.graph's stand-in on the CPU (see the module's docstring)."""

    def __init__(self, gan, batches, stats):
        self.parts = (gan, batches, stats)
        self.captured = self.replays = 0

    def capture(self, fn):
        import capture_check
        at_capture = host_counts(*self.parts)
        saved = [t.clone() for t in _device_state(*self.parts)]
        with capture_check.recording([]) as launches:
            fn()
        for t, v in zip(_device_state(*self.parts), saved):
            t.copy_(v)                                   # a capture runs nothing on the device
        self.captured += 1

        def replay():                    # the capture's host code, the device's state now
            counts = host_counts(*self.parts)
            set_host_counts(*self.parts, at_capture)
            with capture_check.recording([]) as again:
                fn()
            found = capture_check.hazards(launches, again)
            assert not found, f"a replay differs from its capture: {found[:3]}"
            set_host_counts(*self.parts, counts)         # a replay runs no host code
            self.replays += 1
        return replay

    side_stream = staticmethod(contextlib.nullcontext)


def _group(cfgs, images):
    gan = GAN(cfgs, torch.device("cpu"), compile=False)
    gan.streams = Streams([c.seed for c in cfgs], "cpu", counted=True)    # CUDA's streams
    return gan, Batches(images, cfgs[0].batch_size, [c.seed for c in cfgs]), Stats(len(cfgs), "cpu")


def _train_both(cfgs, chunks, S):
    kernels.set_backend("triton")
    kernels.set_precision("fp32")
    images = torch.rand(72, 48, generator=torch.Generator().manual_seed(5)) * 2 - 1
    total = sum(chunks)
    eager = _group(cfgs, images)
    for t in range(total):
        train_step(*eager[:2], t, total, eager[2])
    graphed = _group(cfgs, images)
    fake = ReplayGraphs(*graphed)
    runner = GraphedSteps(*graphed, total, S, graphs=fake)
    step = 0
    for n in chunks:                                    # as the loop: up to its next event
        runner.run(step, n)
        step += n
    return eager, graphed, runner, fake


def _assert_equal(eager, graphed):
    (ge, be, se), (gg, bg, sg) = eager, graphed
    assert host_counts(ge, be, se) == host_counts(gg, bg, sg)
    for e in range(ge.members):
        a, b = ge.member_state(e), gg.member_state(e)
        for part in ("G", "D", "G_ema"):
            for key in a.get(part, {}):
                assert torch.equal(a[part][key], b[part][key]), f"member {e} {part}.{key}"
        for opt in ("opt_g", "opt_d"):
            for i, s in a[opt]["state"].items():
                for key, v in s.items():
                    assert torch.equal(v, b[opt]["state"][i][key]), f"member {e} {opt}[{i}].{key}"
    assert se.read() == sg.read()                       # the interval's sums and counts
    assert torch.equal(be._start, bg._start)


needs_interpreter = pytest.mark.skipif(not INTERPRET, reason="the CUDA code path in the Triton "
                                       "interpreter (TRITON_INTERPRET=1)")


@runs_linear_act
@needs_interpreter
@pytest.mark.parametrize("members,S,share", [(1, 1, False), (3, 3, False), (1, 2, True)],
                         ids=["E1-S1", "E3-S3", "E1-S2-shared"])
def test_graphed_steps_equal_eager_steps(members, S, share):
    """Members with their own seeds and learning rates, k = 2 over epochs of 9 minibatches
    (steps straddle epochs; or k = 1 with one G forward shared), 11 steps in the loop's
    stretches: bit for bit train_step's."""
    cfgs = [TrainConfig(model=TINY, batch_size=8, seed=3 + e, lr_g=2e-4 * (1 + e),
                        k=1 if share else 2, share_g_forward=share) for e in range(members)]
    eager, graphed, runner, fake = _train_both(cfgs, [1, 5, 5], S)
    _assert_equal(eager, graphed)
    assert fake.captured >= 1 and runner.replayed >= 4, (fake.captured, runner.replayed)
    assert fake.replays < runner.replayed or S == 1            # S steps to a replay


@runs_linear_act
@needs_interpreter
def test_topk_recaptures_once_per_count():
    """Top-k's count changes each epoch (of 4 steps here): one graph per count, each captured
    once, the steps still train_step's."""
    cfgs = [TrainConfig(model=TINY, batch_size=8, seed=1, g_topk=0.25, g_topk_decay=0.5,
                        train_size=72)]
    eager, graphed, runner, fake = _train_both(cfgs, [1, 3, 4, 4, 4], 2)
    _assert_equal(eager, graphed)
    counts = {key[1] for key in runner.replays}
    assert len(counts) >= 2 and fake.captured == len(runner.replays), runner.replays.keys()


@runs_linear_act
@needs_interpreter
@pytest.mark.parametrize("option", ["lr_schedule", "instance_noise"])
def test_a_schedule_and_noise_replay_from_the_device(option):
    """A linear learning-rate decay with a warm-up, or annealed instance noise: their numbers
    change every step, on the device (DeviceSchedule), so the steps replay one graph and train
    bit for bit as eagerly."""
    extra = ({"lr_schedule": "linear", "lr_warmup": 3} if option == "lr_schedule" else
             {"instance_noise": 0.1})
    cfgs = [TrainConfig(model=TINY, batch_size=8, seed=2, **extra)]
    eager, graphed, runner, fake = _train_both(cfgs, [1, 3, 4], 2)
    _assert_equal(eager, graphed)
    assert fake.captured >= 1 and runner.replayed >= 4, (fake.captured, runner.replayed)


@pytest.mark.skipif(not CUDA, reason="needs CUDA")
@pytest.mark.parametrize("S", [1, 10], ids=["S1", "S10"])
def test_cuda_graphs_match_eager_over_300_steps(tmp_path, S):
    """The trainer with --cuda-graphs (--graph-steps S) against eager, same seed: the same
    losses to rounding at every log record over 300 steps."""
    import json
    from fastgan.run.fit import fit
    runs = {}
    for graphs in (False, True):
        cfg = TrainConfig(device="cuda", steps=300, log_every=50, cuda_graphs=graphs,
                          graph_steps=S, eval=False, progress=False, compile=False,
                          out=str(tmp_path / f"graphs-{graphs}"))
        fit(cfg)
        runs[graphs] = [json.loads(line) for line in
                        (tmp_path / f"graphs-{graphs}" / "metrics.jsonl").read_text().splitlines()]
    for a, b in zip(runs[False], runs[True], strict=True):
        for key in ("d_loss", "g_loss", "d_x", "d_g_z"):
            assert abs(a[key] - b[key]) <= 2e-3 * max(1.0, abs(a[key])), (a["step"], key, a, b)


@runs_linear_act
@needs_interpreter
def test_the_trainer_with_graphs_writes_what_it_writes_eagerly(tmp_path, monkeypatch, mnist_dir):
    """fastgan's loop with --cuda-graphs --graph-steps 2 (the stand-in graphs, CUDA's streams):
    log records, checkpoints and the summary's numbers as an eager run's, bit for bit."""
    import functools
    import json
    from fastgan import gan as gan_module
    from fastgan.run import loop
    from fastgan.run.fit import fit

    made = []

    class Graphed(GraphedSteps):
        def __init__(self, gan, batches, stats, total, S, graphs):
            super().__init__(gan, batches, stats, total, S,
                             graphs and ReplayGraphs(gan, batches, stats))
            made.append(self)
    monkeypatch.setattr(loop, "GraphedSteps", Graphed)
    monkeypatch.setattr(loop, "setup_backend", lambda cfg, device: False)
    monkeypatch.setattr(gan_module, "Streams", functools.partial(Streams, counted=True))
    kernels.set_backend("triton")
    kernels.set_precision("fp32")
    model = ModelConfig(latent_dim=16, g_hidden=(32, 48), d_hidden=(40,))
    runs = {}
    for graphs in (False, True):
        out = tmp_path / f"graphs-{graphs}"
        fit(TrainConfig(model=model, batch_size=8, train_size=64, steps=8, log_every=3,
                        ckpt_every=4, cuda_graphs=graphs, graph_steps=2, eval=False,
                        progress=False, data_dir=str(mnist_dir), out=str(out)))
        records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
        ckpt = torch.load(out / "checkpoints" / "step_00000008.pt", weights_only=True)
        runs[graphs] = ([{k: r[k] for k in ("step", "d_loss", "g_loss", "d_x", "d_g_z")}
                         for r in records], ckpt)
    assert made[-1].graphs and made[-1].replayed >= 4 and made[-1].captures == 2
    assert runs[True][0] == runs[False][0]
    for part in ("G", "D", "G_ema"):
        for key, value in runs[False][1][part].items():
            assert torch.equal(runs[True][1][part][key], value), f"{part}.{key}"


@runs_linear_act
@needs_interpreter
def test_a_member_that_stops_leaves_the_others_as_they_were(monkeypatch):
    """3 members in graphs; after 5 steps member 1 leaves (the loop's _drop_finished: a subset
    GAN, its batches and sums, a new runner that captures once); members 0 and 2 then train
    on bit for bit as the same group does eagerly."""
    import functools
    from fastgan import gan as gan_module
    monkeypatch.setattr(gan_module, "Streams", functools.partial(Streams, counted=True))
    kernels.set_backend("triton")
    kernels.set_precision("fp32")
    cfgs = [TrainConfig(model=TINY, batch_size=8, seed=7 + e) for e in range(3)]
    images = torch.rand(72, 48, generator=torch.Generator().manual_seed(5)) * 2 - 1
    out, captured = [], []
    for graphed in (False, True):
        gan, batches, stats = _group(cfgs, images)
        fake = ReplayGraphs(gan, batches, stats) if graphed else None
        GraphedSteps(gan, batches, stats, 9, 2, fake).run(0, 5)
        gan, batches = gan.subset([0, 2]), batches.select([0, 2])      # CUDA's streams too
        stats.keep([0, 2])
        fake = ReplayGraphs(gan, batches, stats) if graphed else None
        runner = GraphedSteps(gan, batches, stats, 9, 2, fake)
        runner.run(5, 4)
        out.append((gan, batches, stats))
        captured.append(fake and fake.captured)
    _assert_equal(*out)
    assert captured[1] >= 1 and runner.replayed >= 2


@runs_linear_act
@needs_interpreter
def test_a_member_in_a_graphed_group_of_5_equals_it_alone():
    """Member 2 of 5 (own seeds, learning rates, dropout and G loss) trained through graphed
    steps equals the same member trained alone through graphed steps, bit for bit."""
    kernels.set_backend("triton")
    kernels.set_precision("fp32")
    cfgs = [TrainConfig(model=ModelConfig(latent_dim=16, g_hidden=(32, 48), d_hidden=(40,),
                                          image_dim=48, d_dropout=0.1 * (e % 3)),
                        batch_size=8, seed=20 + e, lr_g=2e-4 * (1 + e),
                        g_loss="minimax" if e == 3 else "ns") for e in range(5)]
    images = torch.rand(72, 48, generator=torch.Generator().manual_seed(5)) * 2 - 1
    runs = []
    for group in (cfgs, [cfgs[2]]):
        parts = _group(group, images)
        GraphedSteps(*parts, 6, 2, ReplayGraphs(*parts)).run(0, 6)
        runs.append(parts[0])
    grid, alone = runs
    a, b = grid.member_state(2), alone.member_state(0)
    for part in ("G", "D", "G_ema"):
        for key, value in b[part].items():
            assert torch.equal(a[part][key], value), f"member 2 {part}.{key} differs alone"
    assert grid.streams.draws == alone.streams.draws
