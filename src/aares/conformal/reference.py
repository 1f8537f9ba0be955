"""The course's full conformal procedure written plainly: slow, obvious, for checking.

:func:`reference_p_values` walks every bag example's whole neighbour list one query at a
time, exactly as the handout describes; :class:`~aares.conformal.course.ConformalPrediction`
must give the same p-values (the tests check it on ties and duplicates) and the benchmark
compares their speed. Neighbours at equal distances are walked in index order (scikit-learn's
order among ties is unspecified and changes with ``n_neighbors``).

Example
-------
>>> import numpy as np
>>> from sklearn.neighbors import NearestNeighbors
>>> X = np.array([[0.0], [0.1], [0.2], [1.0], [1.1], [1.2]]); y = np.array([0, 0, 0, 1, 1, 1])
>>> reference_p_values(NearestNeighbors().fit(X), X, y, np.array([0.05])).round(3).tolist()
[1.0, 0.143]
"""

from __future__ import annotations

import numpy as np

__all__ = ["walk_score", "reference_p_values"]


def walk_score(model, X, y, x, label, own: int | None = None, rule: str = "aares") -> float:
    """Score of the example ``(x, label)`` from its full neighbour list, one at a time.

    ``rule="course"`` skips neighbours at distance exactly 0 (the course's class);
    ``rule="aares"`` also skips the example's own entry (index ``own``) and exact duplicates.
    """
    dist, idx = model.kneighbors(np.asarray(x, dtype=float)[None], n_neighbors=len(X))
    order = np.lexsort((idx[0], dist[0]))
    num = den = None
    for d, j in zip(dist[0][order], idx[0][order], strict=True):
        if d == 0:
            continue
        if rule == "aares" and (j == own or np.array_equal(X[j], x)):
            continue
        if num is None:
            if y[j] == label:
                num = d
        elif y[j] != label:
            den = d
            break
    return num / den if num is not None and den is not None else np.inf


def reference_p_values(
    model, X, y, X_new, rule: str = "aares", recompute: bool = False
) -> np.ndarray:
    """P-values of every sorted label for one point (1-D) or several (2-D), plainly.

    For each label the bag is ``(X, y)`` plus ``(x_new, label)``; the p-value is the share of
    bag scores ``>=`` the new example's. With ``recompute=True`` every bag example is walked
    again for every label and point, as the course's class does (its cost); by default the
    training examples' walks, which do not depend on the new point, are done once.
    """
    X = np.asarray(X, dtype=float)
    y = np.asarray(y)

    def train_scores():
        return [walk_score(model, X, y, X[i], y[i], i, rule) for i in range(len(X))]

    train = None if recompute else train_scores()
    out = []
    for x_new in np.atleast_2d(np.asarray(X_new, dtype=float)):
        p_values = []
        for label in np.unique(y):
            bag = train_scores() if recompute else train
            scores = np.array(bag + [walk_score(model, X, y, x_new, label, None, rule)])
            p_values.append(np.mean(scores >= scores[-1]))
        out.append(p_values)
    return np.array(out) if np.ndim(X_new) == 2 else np.array(out[0])
