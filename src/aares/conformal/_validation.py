"""Argument checks shared by the conformal predictors."""

from __future__ import annotations

from numbers import Real


def check_eps(eps) -> float:
    """``eps`` as a float, or a clear error when it is not strictly between 0 and 1.

    >>> check_eps(0.05)
    0.05
    """
    if isinstance(eps, bool) or not isinstance(eps, Real) or not 0.0 < float(eps) < 1.0:
        raise ValueError(f"eps must be a number strictly between 0 and 1, got {eps!r}")
    return float(eps)
