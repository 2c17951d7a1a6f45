"""--device handling, CPU-side: cuda:N becomes the current device (eager Triton launches go
where the tensors are); bad names are one-line errors."""
import pytest
import torch

from fastgan.io.cli import UserError
from fastgan.io.device import resolve_device


def test_cuda_n_is_made_current(monkeypatch):
    current = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "set_device", lambda d: current.append(d))
    assert resolve_device("cuda:1") == torch.device("cuda", 1) and current[-1] == torch.device("cuda", 1)
    assert resolve_device("cuda") == torch.device("cuda", 0) and current[-1] == torch.device("cuda", 0)
    with pytest.raises(UserError, match="has 2 CUDA device"):
        resolve_device("cuda:2")


@pytest.mark.parametrize("name, says", [("tpu", "unknown device"), ("meta", "only cpu and cuda")])
def test_bad_device_names(name, says):
    with pytest.raises(UserError, match=says):
        resolve_device(name)


def test_cuda_missing(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(UserError, match="CUDA is not available"):
        resolve_device("cuda")
    assert resolve_device("auto") == torch.device("cpu")
