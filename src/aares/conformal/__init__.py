"""Conformal prediction: prediction sets for the genre with a coverage guarantee.

- :mod:`aares.conformal.course`: :class:`ConformalPrediction`, the course's full conformal
  predictor with a kNN score (same p-values as the course's class, milliseconds per point).
- :mod:`aares.conformal.split`: split (inductive) and cross-conformal sets around any
  classifier with ``predict_proba`` (LAC, APS, RAPS scores; marginal or class-conditional).
- :mod:`aares.conformal.analysis`: coverage, set sizes and co-occurrence on held-out songs.
"""

from aares._lazy import lazy_exports

__all__ = ["ConformalPrediction"]

# loaded on first use: importing the package does not load scikit-learn
__getattr__, __dir__ = lazy_exports(__name__, {"ConformalPrediction": "aares.conformal.course"})
