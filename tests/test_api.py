"""The notebook API of `import fastgan` (the README's example)."""
import numpy as np


def test_readme_api_example_runs(tmp_path, mnist_dir):
    import fastgan
    summary = fastgan.fit(fastgan.TrainConfig(steps=30, train_size=640, device="cpu",
                                              data_dir=str(mnist_dir), out=str(tmp_path / "nb"),
                                              progress=False, tensorboard=False))
    assert summary["steps"] == 30 and (tmp_path / "nb" / "summary.json").is_file()
    G = fastgan.load_generator(tmp_path / "nb")
    x = fastgan.generate(G, 100, seed=0)
    assert x.shape == (100, 784) and x.dtype == np.float32 and np.abs(x).max() <= 1
    assert np.array_equal(x, fastgan.generate(G, 100, seed=0))
    scores = fastgan.score(x, data_dir=str(mnist_dir))
    assert {"fid", "is", "modes", "confident", "histogram"} <= scores.keys()
    assert scores["fid"] > 0 and sum(scores["histogram"]) == 100


def test_api_names_shadow_no_module():
    import importlib
    import types
    import fastgan
    for name in ("train", "sample", "eval"):
        importlib.import_module(f"fastgan.{name}")
        assert isinstance(getattr(fastgan, name), types.ModuleType)
    assert callable(fastgan.fit) and callable(fastgan.generate)
