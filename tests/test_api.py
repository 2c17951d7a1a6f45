"""The notebook API of `import fastgan` (the README's example)."""
import numpy as np


def test_readme_api_example_runs(tmp_path, mnist_dir):
    import fastgan
    summary = fastgan.fit(fastgan.TrainConfig(steps=30, train_size=640, device="cpu",
                                              data_dir=str(mnist_dir), out=str(tmp_path / "nb"),
                                              progress=False, tensorboard=False))
    assert summary["steps"] == 30 and (tmp_path / "nb" / "summary.json").is_file()
    assert np.isfinite(summary["scores"]["fid"])                 # scored at the end


def test_fit_twice_in_one_folder_refuses_unless_overwrite(tmp_path, mnist_dir):
    import pytest
    import fastgan
    from fastgan.io.cli import UserError
    cfg = fastgan.TrainConfig(steps=3, train_size=640, device="cpu", data_dir=str(mnist_dir),
                              out=str(tmp_path / "nb"), progress=False, tensorboard=False,
                              eval=False)
    first = fastgan.fit(cfg)
    with pytest.raises(UserError, match="already holds a run"):
        fastgan.fit(cfg)                                         # nothing lost by accident
    again = fastgan.fit(cfg, overwrite=True)                     # the notebook's second run
    assert again["steps"] == first["steps"] == 3
    assert len(list((tmp_path / "nb" / "checkpoints").glob("*.pt"))) == 2    # steps 0 and 3
    G = fastgan.load_generator(tmp_path / "nb")
    x = fastgan.generate(G, 100, seed=0)
    assert x.shape == (100, 784) and x.dtype == np.float32 and np.abs(x).max() <= 1
    assert np.array_equal(x, fastgan.generate(G, 100, seed=0))
    scores = fastgan.score(x, data_dir=str(mnist_dir))
    assert {"fid", "is", "modes", "confident", "histogram"} <= scores.keys()
    assert scores["fid"] > 0 and sum(scores["histogram"]) == 100
    D = fastgan.load_discriminator(tmp_path / "nb")              # rejection sampling
    kept = fastgan.generate(G, 100, seed=0, D=D, reject=0.5)
    assert kept.shape == (100, 784) and np.array_equal(kept, fastgan.generate(G, 100, 0, D, 0.5))
    with pytest.raises(ValueError, match="needs D"):
        fastgan.generate(G, 10, reject=0.5)


def test_api_names_shadow_no_module():
    import importlib
    import types
    import fastgan
    for name in ("train", "sample", "eval"):
        importlib.import_module(f"fastgan.{name}")
        assert isinstance(getattr(fastgan, name), types.ModuleType)
    assert callable(fastgan.fit) and callable(fastgan.generate)
