"""Full (transductive) conformal prediction with the course's k-nearest-neighbour score.

:class:`ConformalPrediction` has the course's interface (``ConformalPrediction(knn_model, X,
y)``, ``predict(x_new)``, ``compute_interval(eps)``) and gives the course's p-values, fast.

The course's semantics
----------------------
For each candidate label ``l`` (the training labels, sorted), the bag is ``(X, y)`` plus
``(x_new, l)``. Every bag example gets a nonconformity score from the fitted ``knn_model``'s
neighbour queries; the model's index holds the training examples only, so ``x_new`` is never
anyone's neighbour. Walking an example's neighbours in the model's order, skipping those at
distance 0 (itself and exact duplicates):

- the numerator is the distance of the first neighbour with the example's label;
- the denominator is the distance of the first neighbour *after that one* whose label differs.

The p-value of ``l`` is the share of bag examples (the new one included) whose score is
``>=`` the new example's score; the prediction set at significance ``eps`` holds the labels
whose p-value is ``>= eps``.

Why it is fast
--------------
A training example's neighbours are training examples only, so its score does not depend on
``x_new`` nor on ``l``: the training scores are computed once, at construction, and kept
sorted. For a new point, one neighbour query gives the numerator and the denominator of every
candidate label at once; each p-value is then one ``searchsorted`` in the sorted scores.
Queries start with a few dozen neighbours and double only for the points (and labels) that
need more, so the answer equals the one from walking the full neighbour list.

Where aares differs from the course's class (on purpose)
--------------------------------------------------------
The course's class skips neighbours whose distance is exactly ``0``. With more than 15
features scikit-learn's ``algorithm="auto"`` picks brute-force search, which computes
distances as ``|a|^2 - 2 a.b + |b|^2``; an example's distance to itself then comes out near
``1e-7`` instead of ``0``, the example is taken for its own nearest neighbour, and its score
collapses to ``0`` (about a fifth of the training examples on the course's data). aares skips
an example's own entry by index, and exact duplicates by comparing the feature vectors, plus
every neighbour at distance ``<= duplicate_tol`` (``0`` by default, the course's rule). Where
the course's class is right (a kd-tree or ball-tree model, or exact arithmetic), both give the
same p-values.

Neighbours at equal distances are walked in order of their index in ``X``. scikit-learn
does not specify its order among ties (a kd-tree returns them in an order that changes with
``n_neighbors``), so when a tie mixes labels the course's class gives whatever its query
happened to return; aares makes that choice reproducible.

Two cases the course's class does not define (it would fail on them) get score ``inf``: an
example with no other example of its label, and one whose neighbours after the first
same-label one all share its label (every other label is nearer than its own).

Example
-------
>>> import numpy as np
>>> from sklearn.neighbors import KNeighborsClassifier
>>> rng = np.random.default_rng(0)
>>> X = rng.normal(size=(60, 3)); y = np.where(X[:, 0] > 0, "rock", "jazz")
>>> knn = KNeighborsClassifier(n_neighbors=1, algorithm="kd_tree").fit(X, y)
>>> cp = ConformalPrediction(knn, X, y)
>>> p = cp.predict(np.array([2.0, 0.0, 0.0]))
>>> cp.labels_.tolist(), bool(p[1] > p[0])
(['jazz', 'rock'], True)
>>> cp.compute_interval(0.05).tolist()
['rock']
"""

from __future__ import annotations

import numpy as np
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted

from aares.conformal._validation import check_eps

__all__ = [
    "ConformalPrediction",
    "neighbour_scores",
    "single_label_epsilon",
    "credibility",
    "confidence",
]

# Training examples find their own label and the next other label within a few dozen
# neighbours; a new point needs every label, typically a fifth to a half of the list.
_FIRST_K_TRAIN = 32
_FULL_LIST_UP_TO = 4096
#: Neighbour entries per query batch (bounds the memory of one batch to ~100 MB).
_BATCH_ENTRIES = 2_000_000


def neighbour_scores(
    dist: np.ndarray, codes: np.ndarray, skip: np.ndarray, n_labels: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Numerator and denominator of the kNN score for every row and every candidate label.

    Parameters
    ----------
    dist : ndarray of shape (m, K)
        Distances of each row's first ``K`` neighbours, in the model's order.
    codes : ndarray of int, shape (m, K)
        Label codes (``0 .. n_labels - 1``) of those neighbours.
    skip : ndarray of bool, shape (m, K)
        Neighbours to ignore (the row's own entry, exact duplicates, distance 0).
    n_labels : int
        Number of labels.

    Returns
    -------
    num, den : ndarray of shape (m, n_labels)
        Distance of the first kept neighbour with label ``l``, and of the first kept
        neighbour after it with another label; ``nan`` where the ``K`` neighbours do not
        reach it.
    found : ndarray of bool, shape (m, n_labels, 2)
        Whether the numerator and the denominator were found within the ``K`` neighbours.

    Examples
    --------
    >>> d = np.array([[0.0, 1.0, 2.0, 3.0]]); c = np.array([[1, 1, 1, 0]])
    >>> num, den, _ = neighbour_scores(d, c, d == 0, 2)
    >>> num.tolist(), den.tolist()
    ([[3.0, 1.0]], [[nan, 3.0]])
    """
    m, k = codes.shape
    rows = np.repeat(np.arange(m), k)
    cols = np.tile(np.arange(k), m)
    kept_codes = np.where(skip, n_labels, codes)  # skipped entries go to a spare column
    first = np.full((m, n_labels + 1), k, dtype=np.int64)
    np.minimum.at(first, (rows, kept_codes.ravel()), cols)
    first = first[:, :n_labels]

    # Label of the last kept neighbour at or before each position (skipped entries take the
    # label before them, so they never start a new run of labels).
    last_kept = np.where(skip, -1, np.arange(k))
    np.maximum.accumulate(last_kept, axis=1, out=last_kept)
    run_codes = np.where(
        last_kept < 0, n_labels, np.take_along_axis(codes, np.maximum(last_kept, 0), axis=1)
    )
    # Position of the first label change strictly after each position.
    change = np.full((m, k), k, dtype=np.int64)
    change[:, 1:] = np.where(run_codes[:, 1:] != run_codes[:, :-1], np.arange(1, k), k)
    next_change = np.full((m, k), k, dtype=np.int64)
    next_change[:, :-1] = np.minimum.accumulate(change[:, :0:-1], axis=1)[:, ::-1]

    has_num = first < k
    second = np.where(has_num, np.take_along_axis(next_change, np.minimum(first, k - 1), axis=1), k)
    has_den = second < k
    num = np.where(has_num, np.take_along_axis(dist, np.minimum(first, k - 1), axis=1), np.nan)
    den = np.where(has_den, np.take_along_axis(dist, np.minimum(second, k - 1), axis=1), np.nan)
    return num, den, np.stack([has_num, has_den], axis=-1)


def _score(num: np.ndarray, den: np.ndarray, found: np.ndarray) -> np.ndarray:
    """num / den; ``inf`` when the full neighbour list has no numerator or no denominator.

    No denominator means every example of another label is nearer than the first one of the
    example's own label: as strange as it gets, hence ``inf`` like a missing numerator.
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        score = num / den
    return np.where(found.all(axis=-1), score, np.inf)


def credibility(p_values: np.ndarray) -> np.ndarray:
    """Largest p-value of each prediction (how typical the best label is)."""
    return np.max(np.asarray(p_values, dtype=float), axis=-1)


def confidence(p_values: np.ndarray) -> np.ndarray:
    """One minus the second largest p-value of each prediction (1 when there is one label)."""
    p = np.asarray(p_values, dtype=float)
    if p.shape[-1] < 2:
        return np.ones(p.shape[:-1])
    return 1.0 - np.sort(p, axis=-1)[..., -2]


def single_label_epsilon(p_values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The handout's step 6: from which eps on the prediction set is a single label.

    The set ``{l : p_l >= eps}`` holds exactly the best label for every eps in
    ``(p_(2), p_(1)]`` (second largest and largest p-value). Raising eps from 0, it becomes a
    single label just above ``p_(2)``; that threshold is returned, so ``1 - threshold`` is the
    prediction's confidence. When the two largest p-values tie, the set never holds a single
    label: the threshold is ``nan`` and the label index is ``-1``.

    Parameters
    ----------
    p_values : ndarray of shape (n_labels,) or (m, n_labels)

    Returns
    -------
    eps : float or ndarray of shape (m,)
        ``p_(2)``: the set is a single label for eps just above it (up to ``p_(1)``).
    label_index : int or ndarray of shape (m,)
        Index of that label (the arg-max p-value), ``-1`` on ties.

    Examples
    --------
    >>> eps, idx = single_label_epsilon(np.array([0.02, 0.40, 0.10]))
    >>> float(eps), int(idx)
    (0.1, 1)
    """
    p = np.atleast_2d(np.asarray(p_values, dtype=float))
    order = np.sort(p, axis=1)
    top = order[:, -1]
    second = order[:, -2] if p.shape[1] > 1 else np.zeros(len(p))
    tie = second >= top
    eps = np.where(tie, np.nan, second)
    idx = np.where(tie, -1, np.argmax(p, axis=1))
    if np.ndim(p_values) == 1:
        return eps[0], idx[0]
    return eps, idx


class ConformalPrediction:
    """Full conformal prediction with the course's kNN nonconformity score.

    Parameters
    ----------
    knn_model : fitted estimator with ``kneighbors``
        For example a ``KNeighborsClassifier`` or ``NearestNeighbors`` fitted on ``X``.
        Its neighbour order and distances define the scores.
    X : array-like of shape (n, d)
        The training examples the model was fitted on.
    y : array-like of shape (n,)
        Their labels.
    duplicate_tol : float, default 0.0
        Neighbours at distance ``<= duplicate_tol`` are skipped like exact duplicates
        (``0`` is the course's rule; exact duplicates are also found by comparing vectors).
    batch_size : int, default 512
        Most points per neighbour query (fewer when many neighbours are asked for).

    Attributes
    ----------
    labels_ : ndarray
        Candidate labels, sorted.
    train_scores_ : ndarray of shape (n,)
        Score of each training example (they do not depend on the new point).
    p_values_ : ndarray of shape (n_labels,) or (m, n_labels)
        P-values of the last :meth:`predict` call.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.neighbors import NearestNeighbors
    >>> X = np.array([[0.0], [0.1], [0.2], [1.0], [1.1], [1.2]]); y = np.array([0, 0, 0, 1, 1, 1])
    >>> cp = ConformalPrediction(NearestNeighbors().fit(X), X, y)
    >>> cp.predict(np.array([[0.05], [1.15]])).round(3).tolist()
    [[1.0, 0.143], [0.143, 1.0]]
    >>> [s.tolist() for s in cp.compute_interval(0.5)]
    [[0], [1]]
    """

    def __init__(self, knn_model, X, y, *, duplicate_tol: float = 0.0, batch_size: int = 512):
        if not hasattr(knn_model, "kneighbors"):
            raise TypeError(
                f"knn_model must have a kneighbors method (a fitted KNeighborsClassifier or "
                f"NearestNeighbors), got {type(knn_model).__name__}"
            )
        try:
            check_is_fitted(knn_model)
        except NotFittedError:
            raise NotFittedError(
                f"knn_model ({type(knn_model).__name__}) is not fitted: call knn_model.fit(X, y) "
                "before ConformalPrediction(knn_model, X, y)"
            ) from None
        X = np.asarray(X, dtype=float)
        y = np.asarray(y)
        if X.ndim != 2:
            raise ValueError(f"X must be a 2-D array (examples x features), got shape {X.shape}")
        if y.ndim != 1 or len(y) != len(X):
            raise ValueError(f"y must be 1-D with one label per row of X ({len(X)}), got {y.shape}")
        if not np.isfinite(X).all():
            raise ValueError("X holds NaN or infinite values; the kNN score needs finite features")
        fit_n = getattr(knn_model, "n_samples_fit_", None)
        fit_X = getattr(knn_model, "_fit_X", None)
        if fit_n is not None and fit_n != len(X):
            raise ValueError(
                f"knn_model was fitted on {fit_n} examples but X has {len(X)}: the model's "
                "neighbour index must hold exactly the training examples X"
            )
        if isinstance(fit_X, np.ndarray) and not np.array_equal(fit_X, X):
            raise ValueError(
                "knn_model was fitted on other data than X: fit it on the same training "
                "examples (same rows, same order)"
            )
        if duplicate_tol < 0:
            raise ValueError(f"duplicate_tol must be >= 0, got {duplicate_tol}")
        self.knn_model = knn_model
        self.X = X
        self.y = y
        self.duplicate_tol = float(duplicate_tol)
        self.batch_size = int(batch_size)
        self.labels_, self._codes = np.unique(y, return_inverse=True)
        # Exact duplicates share a group id; x_new finds its group through the row's bytes.
        rows, self._groups = np.unique(X + 0.0, axis=0, return_inverse=True)
        self._group_of = {r.tobytes(): g for g, r in enumerate(rows)}
        self.train_scores_ = self._train_scores()
        self._sorted_scores = np.sort(self.train_scores_)
        self.p_values_: np.ndarray | None = None

    # -- neighbour walks ---------------------------------------------------------------
    def _walk(self, Q: np.ndarray, own: np.ndarray, groups: np.ndarray, wanted, first_k: int):
        """Numerators and denominators for the rows of Q, growing K until ``wanted`` holds.

        ``own`` is each row's own index in X (-1 for new points), ``groups`` its duplicate
        group (-1 if none); ``wanted(found, rows)`` says which (row, label) results are needed.
        """
        n, n_labels = len(self.X), len(self.labels_)
        num = np.full((len(Q), n_labels), np.nan)
        den = np.full((len(Q), n_labels), np.nan)
        found = np.zeros((len(Q), n_labels, 2), dtype=bool)
        todo = np.arange(len(Q))
        k = min(n, first_k)
        while len(todo):
            batch = max(1, min(self.batch_size, _BATCH_ENTRIES // k))
            for start in range(0, len(todo), batch):
                rows = todo[start : start + batch]
                dist, idx = self.knn_model.kneighbors(Q[rows], n_neighbors=k)
                # Equal distances in index order (the model's own order among ties changes
                # with n_neighbors); the last distance may have more ties beyond the K
                # returned, so only what lies strictly before it is final (unless K = n).
                order = np.lexsort((idx, dist), axis=1)
                dist = np.take_along_axis(dist, order, axis=1)
                idx = np.take_along_axis(idx, order, axis=1)
                skip = (
                    (idx == own[rows, None])
                    | (self._groups[idx] == groups[rows, None])
                    | (dist <= self.duplicate_tol)
                )
                nm, dn, fd = neighbour_scores(dist, self._codes[idx], skip, n_labels)
                if k < n:
                    last = dist[:, -1:]
                    fd &= np.stack([nm < last, dn < last], axis=-1)
                num[rows], den[rows], found[rows] = nm, dn, fd
            if k == n:
                break
            todo = todo[~wanted(found[todo], todo)]
            k = min(n, 2 * k)
        return num, den, found

    def _train_scores(self) -> np.ndarray:
        n = len(self.X)
        own = np.arange(n)
        codes = self._codes

        def done(found, rows):
            f = found[np.arange(len(rows)), codes[rows]]
            return f.all(axis=1)

        num, den, found = self._walk(self.X, own, self._groups, done, _FIRST_K_TRAIN)
        pick = np.arange(n), codes
        return _score(num[pick], den[pick], found[pick])

    def _new_scores(self, Q: np.ndarray) -> np.ndarray:
        groups = np.array([self._group_of.get((q + 0.0).tobytes(), -1) for q in Q])
        own = np.full(len(Q), -1)
        n = len(self.X)
        first_k = n if n <= _FULL_LIST_UP_TO else n // 4
        num, den, found = self._walk(Q, own, groups, lambda f, r: f.all(axis=(1, 2)), first_k)
        return _score(num, den, found)

    # -- the course's interface --------------------------------------------------------
    def predict(self, x_new) -> np.ndarray:
        """P-value of every candidate label for one point (1-D) or many points (2-D).

        Returns an array of shape ``(n_labels,)`` for one point, ``(m, n_labels)`` for many,
        columns in the order of :attr:`labels_`; it is also kept as :attr:`p_values_`.
        """
        Q = np.asarray(x_new, dtype=float)
        single = Q.ndim == 1
        Q = np.atleast_2d(Q)
        if Q.ndim != 2 or Q.shape[1] != self.X.shape[1]:
            raise ValueError(
                f"x_new must have {self.X.shape[1]} features (a 1-D point or a 2-D array of "
                f"points), got shape {np.shape(x_new)}"
            )
        if not np.isfinite(Q).all():
            raise ValueError("x_new holds NaN or infinite values")
        scores = self._new_scores(Q)
        n = len(self.X)
        at_least = n - np.searchsorted(self._sorted_scores, scores, side="left")
        p = (at_least + 1) / (n + 1)  # the new example's own score counts once
        self.p_values_ = p[0] if single else p
        return self.p_values_

    def _p(self) -> np.ndarray:
        if self.p_values_ is None:
            raise RuntimeError("no p-values yet: call predict(x_new) before this method")
        return self.p_values_

    def compute_interval(self, eps: float):
        """Labels whose p-value is ``>= eps``, sorted (a list of arrays for many points)."""
        eps = check_eps(eps)
        p = self._p()
        if p.ndim == 1:
            return self.labels_[p >= eps]
        return [self.labels_[row >= eps] for row in p]

    def predicted_label(self):
        """Label with the largest p-value (the first in sorted order on ties)."""
        p = self._p()
        return self.labels_[np.argmax(p, axis=-1)]

    def credibility(self):
        """Largest p-value of the last prediction(s)."""
        return credibility(self._p())

    def confidence(self):
        """One minus the second largest p-value of the last prediction(s)."""
        return confidence(self._p())

    def single_label_epsilon(self):
        """Threshold above which the set is one label, and that label (see the function)."""
        eps, idx = single_label_epsilon(self._p())
        labels = np.where(np.asarray(idx) >= 0, self.labels_[np.maximum(idx, 0)], None)
        return eps, labels[()] if np.ndim(labels) == 0 else labels
