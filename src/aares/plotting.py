"""Figures: one style, and PNG files saved atomically, without touching matplotlib's state.

Importing aares changes nothing global in matplotlib: no backend switch, no rcParams.
Figures are :class:`matplotlib.figure.Figure` objects made without pyplot (so no GUI
backend and no window, whatever the user's backend), and the house style applies only while
a drawing function decorated with :func:`styled` runs (``matplotlib.rc_context``).

Example
-------
>>> import matplotlib
>>> before = dict(matplotlib.rcParams)
>>> @styled
... def draw(path):
...     fig, ax = subplots(figsize=(2, 2))
...     ax.plot([0, 1], [0, 1])
...     return save_figure(fig, path)
>>> dict(matplotlib.rcParams) == before
True
"""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

from aares.io import atomic_path

__all__ = ["STYLE", "figure", "save_figure", "style", "styled", "subplots"]

#: The house style of aares figures (rcParams, applied inside :func:`style`).
STYLE = {
    "figure.dpi": 110,
    "savefig.dpi": 110,
    "savefig.bbox": "tight",
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.titleweight": "bold",
}

F = TypeVar("F", bound=Callable)


@contextlib.contextmanager
def style() -> Iterator[None]:
    """The house style for the figures drawn inside the ``with`` block."""
    import matplotlib

    with matplotlib.rc_context(STYLE):
        yield


def styled(func: F) -> F:
    """Run ``func`` (a function that draws and saves figures) in :func:`style`."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        with style():
            return func(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def figure(figsize=None, **kwargs):
    """A new :class:`~matplotlib.figure.Figure` (not registered with pyplot)."""
    from matplotlib.figure import Figure

    return Figure(figsize=figsize, **kwargs)


def subplots(nrows: int = 1, ncols: int = 1, *, figsize=None, layout=None, **kwargs):
    """``(figure, axes)`` like ``pyplot.subplots``, on a figure pyplot does not know."""
    fig = figure(figsize=figsize, layout=layout)
    return fig, fig.subplots(nrows, ncols, **kwargs)


def save_figure(fig, path: str | os.PathLike) -> Path:
    """Save ``fig`` as PNG at ``path`` (atomically) in the house resolution."""
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=STYLE["savefig.dpi"], bbox_inches="tight")
    return path
