"""The fitness-over-generations plot as PNG bytes.

matplotlib is an optional extra (``pip install 'evoprompt[report]'``), so it is imported only
here and only when a report is made. The Agg canvas is used directly, without pyplot, so no
GUI backend or global figure state is ever touched.
"""

from __future__ import annotations

import io
from typing import Any

INSTALL_HINT = "pip install 'evoprompt[report]'"


def matplotlib_available() -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def fitted_limits(values: list[float]) -> tuple[float, float]:
    """A y range around the data (a tenth of its spread as margin, at least 0.02), kept inside
    [0, 1] when the data is: small differences stay visible instead of flattened on 0-1."""
    low, high = min(values, default=0.0), max(values, default=1.0)
    margin = max((high - low) * 0.1, 0.02)
    bottom, top = low - margin, high + margin
    if low >= 0:
        bottom = max(bottom, 0.0)
    if high <= 1:
        top = min(top, 1.0)
    return bottom, top


def new_axes(width: float = 8) -> tuple[Any, Any]:
    """A figure ``width`` x 4 inches at 100 dpi on the Agg canvas, and its one axes."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, 4), dpi=100)
    FigureCanvasAgg(figure)
    return figure, figure.add_subplot()


def png_bytes(figure: Any) -> bytes:
    """The figure laid out as PNG, without the matplotlib version in its metadata (so the
    bytes do not change with the installed matplotlib)."""
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()


def fitness_png(generations: list[dict[str, Any]], title: str = "") -> bytes:
    """Best and mean fitness per generation (800x400 px)."""
    from matplotlib.ticker import MaxNLocator

    xs = [int(g["generation"]) for g in generations]
    best = [float(g["best_fitness"]) for g in generations]
    mean = [float(g["mean_fitness"]) for g in generations]
    figure, axes = new_axes()
    axes.plot(xs, best, marker="o", label="best")
    axes.plot(xs, mean, marker="s", linestyle="--", label="mean")
    axes.set_xlabel("generation (0 = initial population)")
    axes.set_ylabel("fitness (dev accuracy)")
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_ylim(*fitted_limits([*best, *mean]))
    axes.grid(alpha=0.3)
    axes.legend(loc="lower right")
    if title:
        axes.set_title(title)
    return png_bytes(figure)
