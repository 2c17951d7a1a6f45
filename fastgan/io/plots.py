"""Figures, drawn with matplotlib (Agg, no display needed) and written atomically as PNG.

`curves`: a run's training curves, one panel per group of series, with axes, labels, a legend
and named reference lines. `figure1`: the 1-D picture of the paper's Figure 1. `eval_figure`:
samples beside their class histogram.
"""
import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from fastgan.io.files import atomic_write  # noqa: E402


def _save(fig, path, dpi: int = 100):
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    plt.close(fig)
    return atomic_write(path, lambda f: f.write(buf.getvalue()))


def curves(path, panels):
    """panels: [(title, y label, {label: (xs, ys)}, {reference label: y}, log_y)]. One panel
    each, x = generator steps."""
    fig, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 3.8), squeeze=False)
    for ax, (title, ylabel, series, refs, log_y) in zip(axes[0], panels):
        for label, (xs, ys) in series.items():
            ax.plot(xs, ys, label=label, lw=1.3, marker="o" if len(xs) < 40 else None, ms=3)
        for i, (label, y) in enumerate(refs.items()):
            ax.axhline(y, color="grey", ls=(0, (1, 2 + 2 * i)), lw=1, label=label)
        if log_y:
            ax.set_yscale("log")
        ax.set_title(title)
        ax.set_xlabel("generator step")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.25)
        ax.legend(fontsize=8)
    fig.tight_layout()
    return _save(fig, path)


def figure1(snaps: dict, path):
    """The paper's Figure 1 from the toy's snapshots (panels a-d): p_data black dotted, p_g
    green, D blue dashed, and lines from z (below) to G(z) (the x axis)."""
    lo = min(s["x"][0] for s in snaps.values())
    hi = max(s["x"][-1] for s in snaps.values())
    peak = 1.15 * max(max(s["p_data"].max(), s["p_g"].max()) for s in snaps.values())
    fig, axes = plt.subplots(1, len(snaps), figsize=(3.6 * len(snaps), 3.4), sharey=True)
    for ax, (name, s) in zip(np.atleast_1d(axes), snaps.items()):
        ax.plot(s["x"], s["p_data"] / peak, "k:", lw=1.6, label="p_data")
        ax.plot(s["x"], s["p_g"] / peak, color="green", lw=1.4, label="p_g")
        ax.plot(s["x"], s["d"], "b--", lw=1.2, label="D(x)")
        ax.axhline(0.5, color="grey", lw=0.6, ls=":")
        for z, gz in zip(s["z"], s["g_z"]):        # z spread uniformly under the x range
            ax.plot([lo + (z + 1) / 2 * (hi - lo), gz], [-0.35, 0.0], color="grey", lw=0.5)
        ax.axhline(0.0, color="k", lw=0.8)
        ax.axhline(-0.35, color="k", lw=0.8)
        ax.set_xlim(lo, hi)
        ax.set_ylim(-0.4, 1.05)
        ax.set_title(f"({name})")
        ax.set_xlabel("x (lines: z below mapped to G(z))")
    np.atleast_1d(axes)[0].set_ylabel("D(x); densities scaled to their peak")
    np.atleast_1d(axes)[0].legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    return _save(fig, path)


def eval_figure(path, samples, histogram, test, test_y):
    """A 10 x 10 grid of samples beside the histogram of their classes (as the classifier reads
    them), each bar labelled by a real test digit of its class."""
    from fastgan.io.images import grid
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4.6),
                                      gridspec_kw={"width_ratios": [1, 1.25]})
    left.imshow(grid(samples[:100], nrow=10), cmap="gray", vmin=0, vmax=255)
    left.set_title(f"{min(len(samples), 100)} samples")
    left.axis("off")
    hist = np.asarray(histogram, dtype=float)
    share = 100 * hist / max(hist.sum(), 1)
    right.bar(range(10), share, color="C0")
    right.axhline(10, color="grey", ls=":", lw=1, label="10% (uniform)")
    right.set_xticks(range(10))
    right.set_xlabel("class (a real test digit of each below)")
    right.set_ylabel("share of samples, %")
    right.set_title("classes of the samples")
    right.legend(fontsize=8)
    test_y = np.asarray(test_y)
    for c in range(10):
        digit = (np.asarray(test[int(np.argmax(test_y == c))]).reshape(28, 28) + 1) / 2
        right.imshow(digit, cmap="gray_r", extent=(c - 0.4, c + 0.4, -share.max() * 0.16,
                                                    -share.max() * 0.02), aspect="auto")
    right.set_ylim(-share.max() * 0.18, share.max() * 1.1)
    right.set_xlim(-0.6, 9.6)
    fig.tight_layout()
    return _save(fig, path)


def sweep_figure(path, curves: dict, grids: list):
    """A sweep at a glance. curves: {setting: (steps, fid [seeds, steps])}, drawn as the mean
    over seeds with the min-max band; grids: [(label, uint8 image)], the members' final sample
    grids as a contact sheet."""
    n = len(grids)
    cols = max(1, min(8, int(np.ceil(np.sqrt(n))))) if n else 1
    rows = int(np.ceil(n / cols)) if n else 1
    width = 1.6 * cols + (6.0 if curves else 0.0)
    fig = plt.figure(figsize=(max(width, 4.0), max(1.8 * rows + 0.6, 3.8)))
    outer = fig.add_gridspec(1, 2 if curves else 1, width_ratios=[6.0, 1.6 * cols] if curves
                             else [1])
    if curves:
        ax = fig.add_subplot(outer[0])
        for setting, (steps, fid) in curves.items():
            mean = fid.mean(0)
            line, = ax.plot(steps, mean, lw=1.4, marker="o" if len(steps) < 40 else None, ms=3,
                            label=f"{setting} ({len(fid)} seed{'s' if len(fid) > 1 else ''})")
            if len(fid) > 1:
                ax.fill_between(steps, fid.min(0), fid.max(0), color=line.get_color(), alpha=0.2)
        ax.set_yscale("log")
        ax.set_xlabel("generator step")
        ax.set_ylabel("classifier FID (log scale)")
        ax.set_title("FID per setting: mean, min-max over seeds")
        ax.grid(alpha=0.25)
        ax.legend(fontsize=7)
    if grids:
        sheet = outer[-1].subgridspec(rows, cols)
        for i, (label, img) in enumerate(grids):
            ax = fig.add_subplot(sheet[i // cols, i % cols])
            ax.imshow(img, cmap="gray", vmin=0, vmax=255)
            ax.set_title(label, fontsize=6)
            ax.axis("off")
    fig.tight_layout()
    return _save(fig, path)
