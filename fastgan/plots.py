"""Line plots to PNG: matplotlib when installed (the `plot` extra), else a plain raster.

The raster fallback draws each panel's series as coloured polylines on a white canvas with a
grey frame and dotted reference lines; the colours are listed in the docstring of `curves`.
"""
import numpy as np

from fastgan.images import write_png

COLORS = [(31, 119, 180), (214, 39, 40), (44, 160, 44), (148, 103, 189)]  # blue, red, green, purple


def curves(path, panels):
    """panels: [(title, {label: (xs, ys)}, [reference y values])]. Series colours in order:
    blue, red, green, purple; references dotted grey."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return write_png(path, _raster(panels))
    fig, axes = plt.subplots(1, len(panels), figsize=(6 * len(panels), 4))
    for ax, (title, series, refs) in zip(np.atleast_1d(axes), panels):
        for (label, (xs, ys)), c in zip(series.items(), COLORS):
            ax.plot(xs, ys, label=label, color=np.array(c) / 255)
        for r in refs:
            ax.axhline(r, color="grey", linestyle=":", linewidth=1)
        ax.set_title(title)
        ax.set_xlabel("step")
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _raster(panels, h=300, w=480, margin=12):
    canvas = np.full((h, w * len(panels), 3), 255, dtype=np.uint8)
    for p, (_, series, refs) in enumerate(panels):
        x0, x1, y0, y1 = p * w + margin, (p + 1) * w - margin, margin, h - margin
        canvas[y0:y1, [x0, x1 - 1]] = 160
        canvas[[y0, y1 - 1], x0:x1] = 160
        values = [np.asarray(v[1], float) for v in series.values()] + [np.asarray(refs, float)]
        finite = np.concatenate([v[np.isfinite(v)] for v in values] + [np.zeros(0)])
        lo, hi = (finite.min(), finite.max()) if finite.size else (0.0, 1.0)
        hi = hi if hi > lo else lo + 1.0
        all_x = np.concatenate([np.asarray(v[0], float) for v in series.values()] + [[0, 1]])
        xlo, xhi = all_x.min(), max(all_x.max(), all_x.min() + 1)

        def px(xs, ys):
            u = x0 + 1 + (np.asarray(xs, float) - xlo) / (xhi - xlo) * (x1 - x0 - 3)
            v = y1 - 2 - (np.asarray(ys, float) - lo) / (hi - lo) * (y1 - y0 - 3)
            return u, v
        for r in refs:
            _, v = px([xlo], [r])
            canvas[int(v[0]), x0:x1:4] = 128
        for (xs, ys), c in zip(series.values(), COLORS):
            polyline(canvas, *px(xs, ys), c)
    return canvas


def line(canvas, x0, y0, x1, y1, color) -> None:
    """A straight segment in pixel coordinates (x right, y down), clipped to the canvas."""
    if not np.isfinite([x0, y0, x1, y1]).all():
        return
    n = int(max(abs(x1 - x0), abs(y1 - y0))) + 1
    xs, ys = np.linspace(x0, x1, n).round().astype(int), np.linspace(y0, y1, n).round().astype(int)
    keep = (xs >= 0) & (xs < canvas.shape[1]) & (ys >= 0) & (ys < canvas.shape[0])
    canvas[ys[keep], xs[keep]] = color


def polyline(canvas, xs, ys, color, dash: int = 0) -> None:
    """Consecutive segments; dash > 0 draws every other run of dash segments."""
    for i, (a, b, c, d) in enumerate(zip(xs[:-1], ys[:-1], xs[1:], ys[1:])):
        if not dash or (i // dash) % 2 == 0:
            line(canvas, a, b, c, d, color)
