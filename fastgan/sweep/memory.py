"""Will a sweep fit on its device? An estimate of what one member needs while it trains, the
memory free on the device, and the one-line refusal of a grid that does not fit.

A member's memory (float32): G's and D's parameters with their gradients and Adam's two moments
(4 copies), G's average (1 more of G), and the larger update's activations: the D step saves
each D layer's input and output for its 2B rows (real and fake) and, on the CPU, 16-bit dropout
words (on CUDA the kernels compute them where they read a unit: none stored); the G step saves
G's and D's layers for B rows. The training images are one copy per group
(the members share them). Groups of different shapes train one after another, so a sweep fits
when its largest group does. The estimate is a floor: the allocator and temporaries add to it,
so a grid is refused above HEADROOM of the free memory. The measured peak of each member is in
its summary (peak_mb_per_member, on CUDA).
"""
from fastgan.config import TrainConfig
from fastgan.io.cli import BadValue
from fastgan.models import layer_shapes

HEADROOM = 0.8          # the share of the free memory a grid may plan to use


def member_bytes(cfg: TrainConfig, cuda: bool = False) -> int:
    """The estimate of one member's memory while it trains, in bytes (cuda: on a GPU, where
    the dropout bits are never stored)."""
    m, b = cfg.model, cfg.batch_size
    layers = layer_shapes(m)
    n_g = len(m.g_hidden) + 1
    pieces = max(m.d_maxout, 1)                 # maxout: each D hidden unit has its pieces
    g_layers, d_layers = layers[:n_g], layers[n_g:]
    d_out = [n * (pieces if i < len(d_layers) - 1 else 1) for i, (_, n, _) in enumerate(d_layers)]
    g_params = sum(k * n + n for k, n, _ in g_layers)
    d_params = sum(k * n + n for (k, _, _), n in zip(d_layers, d_out))
    state = 4 * (4 * (g_params + d_params) + g_params)            # p, grad, m, v; G's average
    d_saved = sum(k + n for (k, _, _), n in zip(d_layers, d_out))
    g_saved = sum(k + n for k, n, _ in g_layers)
    masks = 0 if cuda else 2 * sum([m.image_dim, *m.d_hidden])    # int16 words a row
    d_step = 2 * b * (4 * d_saved + masks)
    g_step = b * (4 * (g_saved + d_saved) + masks)
    return state + max(d_step, g_step)


def images_bytes(cfg: TrainConfig) -> int:
    return 4 * min(cfg.train_size, 60000) * cfg.model.image_dim


def free_bytes(device) -> int | None:
    """The memory free on device: CUDA's free memory, the host's available memory for the CPU
    (Linux), else None (unknown: no check)."""
    import torch
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def check_fits(groups: list[list[TrainConfig]], device, free: int | None) -> None:
    """Raises BadValue (one line, exit 2) when the largest group would not fit in `free`
    bytes, naming how many members of it would."""
    if free is None or not groups:
        return
    budget, cuda = HEADROOM * free, getattr(device, "type", str(device)) == "cuda"
    for cfgs in groups:
        need = images_bytes(cfgs[0]) + sum(member_bytes(c, cuda) for c in cfgs)
        if need > budget:
            each = member_bytes(cfgs[0], cuda)
            fit = max(0, int((budget - images_bytes(cfgs[0])) // each))
            raise BadValue(
                f"{len(cfgs)} members of one shape need about {need / 2 ** 30:.1f} GiB on "
                f"{device} ({each / 2 ** 20:.0f} MiB each), {free / 2 ** 30:.1f} GiB free: "
                f"about {fit} would fit; split the grid or use more ranks")
