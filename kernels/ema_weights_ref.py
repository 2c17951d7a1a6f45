"""Pure-PyTorch reference of ema_weights: the moving average's weights of one update, from the
update count t on the device, and the count advanced. The CPU path (fastgan.optim.MemberEMA)."""
import torch


def ema_weights_ref(t: torch.Tensor, decays: torch.Tensor, starts: torch.Tensor):
    """t float64 [] (updates so far), decays and starts float64 [G] -> w float32 [G]:
    1 - min(decay, (1 + s) / (10 + s)) with s = t - start, and 1 while s < 0; then t += 1."""
    s = t - starts
    w = 1 - ((s + 1) / (s + 10)).clamp(max=decays)
    w = torch.where(s >= 0, w, 1.0).float()
    t += 1
    return w
