"""Argument checks shared by the conformal predictors."""

from __future__ import annotations

from numbers import Real

import numpy as np


def check_eps(eps) -> float:
    """``eps`` as a float, or a clear error when it is not strictly between 0 and 1.

    >>> check_eps(0.05)
    0.05
    """
    if isinstance(eps, bool) or not isinstance(eps, Real) or not 0.0 < float(eps) < 1.0:
        raise ValueError(f"eps must be a number strictly between 0 and 1, got {eps!r}")
    return float(eps)


def check_stratifiable(y, minimum: int, purpose: str) -> None:
    """A clear error when a label has fewer than ``minimum`` examples for a stratified split.

    scikit-learn's own message ("The least populated class in y has only 1 member") names
    neither the label nor the remedy.

    >>> check_stratifiable(["rock", "rock", "pop", "pop"], 2, "a held-out split")
    >>> check_stratifiable(["rock", "rock", "pop"], 2, "a held-out split")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: a held-out split needs at least 2 songs of every genre; too few: 'pop' (1)...
    """
    labels, counts = np.unique(np.asarray(y), return_counts=True)
    rare = [
        f"{label!r} ({n})" for label, n in zip(labels.tolist(), counts, strict=True) if n < minimum
    ]
    if rare:
        raise ValueError(
            f"{purpose} needs at least {minimum} songs of every genre; too few: "
            f"{', '.join(rare)}. Use more songs, or leave these genres out."
        )
