"""Error measures and assertions that name the tensor and show the worst element."""
import torch


def rel_err(out, ref) -> float:
    """||out - ref|| / ||ref|| in float64 (the absolute norm where ref is 0)."""
    out, ref = out.detach().double(), ref.detach().double()
    den = ref.norm().item()
    return (out - ref).norm().item() / (den if den > 0 else 1.0)


def worst(out, ref) -> str:
    diff = (out.detach().double() - ref.detach().double()).abs()
    i = int(diff.argmax())
    idx = tuple(int(v) for v in torch.unravel_index(torch.tensor(i), diff.shape)) if diff.dim() else ()
    return (f"worst |err| {diff.max().item():.3e} at {idx}: got {out.detach().double().flatten()[i].item():.8g}, "
            f"want {ref.detach().double().flatten()[i].item():.8g}")


def assert_rel(name, out, ref, tol):
    assert out.shape == ref.shape, f"{name}: shape {tuple(out.shape)} != {tuple(ref.shape)}"
    assert torch.isfinite(out).all(), f"{name}: non-finite values (unwritten?); {worst(out, ref)}"
    err = rel_err(out, ref)
    assert err <= tol, f"{name}: rel err {err:.3e} > {tol:.1e}; {worst(out, ref)}"


def assert_like_torch(name, out, torch_out, ref, atol):
    """|ours - fp64| <= 2 |torch same dtype - fp64| + atol, elementwise (atol: number or tensor)."""
    assert out.shape == ref.shape, f"{name}: shape {tuple(out.shape)} != {tuple(ref.shape)}"
    ours = (out.double() - ref.double()).abs()
    theirs = (torch_out.double() - ref.double()).abs()
    atol = torch.as_tensor(atol, dtype=torch.float64, device=ours.device).expand_as(ours)
    bound = 2 * theirs + atol
    bad = ~(ours <= bound)
    if bad.any():
        i = int((ours - bound).flatten().argmax())
        idx = tuple(int(v) for v in torch.unravel_index(torch.tensor(i), ours.shape))
        raise AssertionError(
            f"{name}: {int(bad.sum())} of {ours.numel()} elements beyond 2|torch - fp64| + atol; "
            f"worst at {idx}: |ours - fp64| {ours.flatten()[i].item():.3e}, "
            f"|torch - fp64| {theirs.flatten()[i].item():.3e}, atol {atol.flatten()[i].item():.3e}")
