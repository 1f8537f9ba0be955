"""Split (inductive) and cross-conformal prediction sets around any probabilistic classifier.

A nonconformity score says how strange label ``l`` is for ``x`` according to the classifier's
probabilities ``p(. | x)``. Scores of held-out calibration examples (with their true labels)
give each candidate label a p-value,

    p(x, l) = (#{i : s_i >= s(x, l)} + 1) / (n + 1),

and the prediction set at significance ``eps`` is ``{l : p(x, l) > eps}``, which holds the true
label with probability at least ``1 - eps`` when calibration and test examples are
exchangeable (Vovk, Gammerman and Shafer 2005; Angelopoulos and Bates 2021).

Scores (all of ``p(. | x)``, sorted descending where a rank is needed):

- ``"lac"`` (least ambiguous set, "hinge"): ``1 - p(l | x)``. Smallest sets on average.
- ``"aps"`` (adaptive prediction sets): the mass of every label at least as likely as ``l``,
  ``sum_{j: p_j > p_l} p_j + u p_l`` with ``u ~ U(0, 1)`` when ``randomized`` (else ``u = 1``).
- ``"raps"``: APS plus ``raps_lambda * max(0, rank(l) - raps_k)``, which keeps unlikely labels
  out of the sets.

Calibration:

- marginal (default): one pool of calibration scores;
- ``mondrian=True`` (class-conditional): label ``l`` is compared with the calibration examples
  of class ``l`` only, so every class gets its own ``1 - eps`` coverage. That holds on average
  over calibration sets; a rare class with few calibration songs may get a set of them that
  covers less. ``delta`` asks for more: coverage ``>= 1 - eps`` for each class with probability
  ``>= 1 - delta`` over the calibration set (training-conditional validity, Vovk 2012): the
  class's threshold moves to the order statistic given by the binomial tail, which widens rare
  classes' sets a little and leaves large classes nearly unchanged. ``shrinkage > 0`` instead
  blends a class's p-value with the marginal one (weight ``n_l / (n_l + shrinkage)``), a
  heuristic without a per-class guarantee.

Where calibration examples come from (``cv``):

- ``"split"``: a stratified ``calibration_size`` share of the data given to ``fit``;
- ``"prefit"``: ``estimator`` is already fitted and ``fit``/``calibrate`` get calibration data;
- an integer ``K``: cross-conformal (Vovk 2015): ``K`` models, each fitted without one fold;
  every example calibrates the model that did not see it, and a test point's p-value pools the
  counts of the ``K`` folds. All data serves both for fitting and for calibration.

``smooth=True`` breaks ties between scores at random (smoothed p-values), for coverage of
exactly ``1 - eps`` on average instead of at least ``1 - eps``.

Example
-------
>>> import numpy as np
>>> from sklearn.linear_model import LogisticRegression
>>> rng = np.random.default_rng(0)
>>> X = rng.normal(size=(600, 2)); y = (X[:, 0] + rng.normal(size=600) > 0).astype(int)
>>> cp = SplitConformalClassifier(LogisticRegression(), score="lac", random_state=0).fit(X, y)
>>> sets = cp.predict_set(np.array([[3.0, 0.0], [0.0, 0.0]]), eps=0.1)
>>> sets.tolist()
[[False, True], [True, True]]
"""

from __future__ import annotations

from numbers import Integral

import numpy as np
from sklearn.base import BaseEstimator, clone
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import StratifiedKFold, train_test_split
from sklearn.utils.validation import check_is_fitted

from aares.conformal._validation import check_eps, check_stratifiable

__all__ = [
    "SCORES",
    "CALIBRATION_SIZE",
    "SplitConformalClassifier",
    "class_scores",
    "conformal_p_values",
    "count_at_least",
]

#: Nonconformity scores by name.
SCORES = ("lac", "aps", "raps")
#: Default share of the data held out for calibration with ``cv="split"``.
CALIBRATION_SIZE = 0.15


def class_scores(
    proba: np.ndarray,
    score: str = "lac",
    *,
    u: np.ndarray | None = None,
    raps_lambda: float = 0.01,
    raps_k: int = 2,
) -> np.ndarray:
    """Nonconformity score of every (example, candidate label) pair.

    Parameters
    ----------
    proba : ndarray of shape (m, n_labels)
        Class probabilities from the classifier.
    score : {"lac", "aps", "raps"}
    u : ndarray of shape (m,), optional
        Uniform draws for randomised APS/RAPS (one per example); ``None`` means ``u = 1``.
    raps_lambda, raps_k : float, int
        RAPS penalty per rank beyond ``raps_k``.

    Returns
    -------
    ndarray of shape (m, n_labels)

    Examples
    --------
    >>> p = np.array([[0.6, 0.3, 0.1]])
    >>> class_scores(p, "lac").round(2).tolist(), class_scores(p, "aps").round(2).tolist()
    ([[0.4, 0.7, 0.9]], [[0.6, 0.9, 1.0]])
    """
    proba = np.asarray(proba, dtype=float)
    if score == "lac":
        return 1.0 - proba
    if score not in SCORES:
        raise ValueError(f"unknown score {score!r}; choose from {SCORES}")
    order = np.argsort(-proba, axis=1, kind="stable")
    sorted_p = np.take_along_axis(proba, order, axis=1)
    cum = np.cumsum(sorted_p, axis=1)
    rank = np.empty_like(order)
    np.put_along_axis(rank, order, np.arange(proba.shape[1])[None, :], axis=1)
    inclusive = np.take_along_axis(cum, rank, axis=1)  # mass of labels ranked up to l
    u = np.ones(len(proba)) if u is None else np.asarray(u, dtype=float)
    scores = inclusive - (1.0 - u[:, None]) * proba
    if score == "raps":
        scores = scores + raps_lambda * np.maximum(0, rank + 1 - raps_k)
    return scores


def count_at_least(pool: np.ndarray, s: np.ndarray, theta=None) -> np.ndarray:
    """``#{pool >= s}`` for each test score, or ``#{pool > s} + theta * #{pool == s}``."""
    pool = np.sort(np.asarray(pool, dtype=float))
    at_least = len(pool) - np.searchsorted(pool, s, side="left")
    if theta is None:
        return at_least
    above = len(pool) - np.searchsorted(pool, s, side="right")
    return above + theta * (at_least - above)


def conformal_p_values(
    cal_scores: np.ndarray,
    test_scores: np.ndarray,
    *,
    theta: np.ndarray | None = None,
) -> np.ndarray:
    """P-values of test scores against one pool of calibration scores.

    ``(#{cal >= s} + 1) / (n + 1)``, or with ``theta ~ U(0, 1)`` the smoothed
    ``(#{cal > s} + theta * (#{cal == s} + 1)) / (n + 1)``.

    Examples
    --------
    >>> conformal_p_values(np.array([0.1, 0.2, 0.3]), np.array([0.2, 0.35])).tolist()
    [0.75, 0.25]
    """
    s = np.asarray(test_scores, dtype=float)
    one = 1.0 if theta is None else theta
    return (count_at_least(cal_scores, s, theta) + one) / (len(cal_scores) + 1)


class SplitConformalClassifier(BaseEstimator):
    """Conformal prediction sets around a classifier with ``predict_proba``.

    Parameters
    ----------
    estimator : classifier
        Any scikit-learn-style classifier with ``predict_proba`` and ``classes_`` (a pipeline
        taking the raw course frame is fine). Cloned unless ``cv="prefit"``.
    score : {"lac", "aps", "raps"}, default "lac"
    mondrian : bool, default False
        Class-conditional calibration.
    cv : "split", "prefit" or int, default "split"
        Where calibration examples come from (see the module's notes); an int is the number
        of folds of cross-conformal prediction.
    calibration_size : float, default 0.15
        Share of the data held out for calibration with ``cv="split"``. On the course data
        15 % (about 3,000 songs) fixes the quantile well and leaves more songs to fit: the
        sets are smaller than with 25 % (BENCHMARKS.md).
    randomized : bool, default True
        Randomised APS/RAPS scores (``u ~ U(0, 1)``); ignored by LAC.
    smooth : bool, default False
        Smoothed p-values (random tie-breaking).
    raps_lambda, raps_k : float, int, default 0.01, 2
        RAPS penalty.
    delta : float, optional
        Mondrian only: per-class coverage ``>= 1 - eps`` with probability ``>= 1 - delta``
        over calibration sets (see the module's notes); ``None`` for the usual sets.
    shrinkage : float, default 0.0
        Mondrian only: pseudo-count pulling small classes' p-values toward the marginal ones.
    random_state : int, default 0
        Seed of the split, the folds and the random draws.

    Attributes
    ----------
    classes_ : ndarray
        Labels, in the estimator's order (columns of every returned matrix).
    estimators_ : list
        The fitted classifier(s): one for "split"/"prefit", ``K`` for cross-conformal.
    cal_proba_, cal_labels_, cal_folds_ : ndarray
        Calibration probabilities (from the model that did not see the example), label
        codes, and the fold (model) each one belongs to; ``cal_scores_`` gives their scores.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> rng = np.random.default_rng(1)
    >>> X = rng.normal(size=(400, 2)); y = np.where(X[:, 0] > 0, "a", "b")
    >>> cp = SplitConformalClassifier(LogisticRegression(), cv=3, mondrian=True).fit(X, y)
    >>> cp.predict_set(np.array([[2.0, 0.0]]), eps=0.1).tolist()
    [[True, False]]
    """

    def __init__(
        self,
        estimator,
        *,
        score: str = "lac",
        mondrian: bool = False,
        cv="split",
        calibration_size: float = CALIBRATION_SIZE,
        randomized: bool = True,
        smooth: bool = False,
        raps_lambda: float = 0.01,
        raps_k: int = 2,
        delta: float | None = None,
        shrinkage: float = 0.0,
        random_state: int = 0,
    ):
        self.estimator = estimator
        self.score = score
        self.mondrian = mondrian
        self.cv = cv
        self.calibration_size = calibration_size
        self.randomized = randomized
        self.smooth = smooth
        self.raps_lambda = raps_lambda
        self.raps_k = raps_k
        self.delta = delta
        self.shrinkage = shrinkage
        self.random_state = random_state

    # -- fitting -------------------------------------------------------------------------
    def _check_params(self) -> None:
        if self.score not in SCORES:
            raise ValueError(f"unknown score {self.score!r}; choose from {SCORES}")
        if not hasattr(self.estimator, "predict_proba"):
            raise TypeError(
                f"estimator {type(self.estimator).__name__} has no predict_proba: conformal "
                "scores need class probabilities"
            )
        cv = self.cv
        if not (cv in ("split", "prefit") or (isinstance(cv, Integral) and cv >= 2)):
            raise ValueError(f"cv must be 'split', 'prefit' or a number of folds >= 2, got {cv!r}")
        if cv == "split" and not 0.0 < self.calibration_size < 1.0:
            raise ValueError(
                f"calibration_size must be strictly between 0 and 1, got {self.calibration_size}"
            )
        if self.shrinkage < 0:
            raise ValueError(f"shrinkage must be >= 0, got {self.shrinkage}")
        if self.delta is not None and not 0.0 < self.delta < 1.0:
            raise ValueError(f"delta must be strictly between 0 and 1 (or None), got {self.delta}")

    def _rows(self, X, idx):
        return X.iloc[idx] if hasattr(X, "iloc") else np.asarray(X)[idx]

    def fit(self, X, y):
        """Fit the classifier(s) and calibrate (with ``cv="prefit"``: calibrate only)."""
        self._check_params()
        y = np.asarray(y)
        if len(y) != len(X):
            raise ValueError(f"X has {len(X)} rows but y has {len(y)} labels")
        rng = np.random.default_rng(self.random_state)
        if self.cv == "prefit":
            return self.calibrate(X, y)
        if self.cv == "split":
            check_stratifiable(y, 2, "a stratified calibration split")
            idx = np.arange(len(y))
            fit_idx, cal_idx = train_test_split(
                idx, test_size=self.calibration_size, stratify=y, random_state=self.random_state
            )
            model = clone(self.estimator).fit(self._rows(X, fit_idx), y[fit_idx])
            self.estimators_ = [model]
            self._set_classes(model)
            self._store_calibration(
                [model.predict_proba(self._rows(X, cal_idx))], [y[cal_idx]], rng
            )
            return self
        folds = StratifiedKFold(self.cv, shuffle=True, random_state=self.random_state)
        self.estimators_, probas, labels = [], [], []
        for fit_idx, cal_idx in folds.split(np.zeros(len(y)), y):
            model = clone(self.estimator).fit(self._rows(X, fit_idx), y[fit_idx])
            self.estimators_.append(model)
            probas.append(model.predict_proba(self._rows(X, cal_idx)))
            labels.append(y[cal_idx])
        self._set_classes(self.estimators_[0])
        for model in self.estimators_[1:]:
            if not np.array_equal(model.classes_, self.classes_):
                raise ValueError(
                    "the fold models learned different classes: every class needs at least "
                    f"{self.cv} examples for {self.cv}-fold cross-conformal prediction"
                )
        self._store_calibration(probas, labels, rng)
        return self

    def calibrate(self, X_cal, y_cal):
        """Calibrate an already fitted ``estimator`` on held-out ``(X_cal, y_cal)``."""
        self._check_params()
        try:
            check_is_fitted(self.estimator)
        except NotFittedError:
            raise NotFittedError(
                f"estimator {type(self.estimator).__name__} is not fitted: fit it first, or "
                "use cv='split' or an int so that fit() fits it"
            ) from None
        y_cal = np.asarray(y_cal)
        if len(y_cal) != len(X_cal):
            raise ValueError(f"X_cal has {len(X_cal)} rows but y_cal has {len(y_cal)} labels")
        self.estimators_ = [self.estimator]
        self._set_classes(self.estimator)
        rng = np.random.default_rng(self.random_state)
        self._store_calibration([self.estimator.predict_proba(X_cal)], [y_cal], rng)
        return self

    def _set_classes(self, model) -> None:
        self.classes_ = np.asarray(model.classes_)

    def _codes(self, y) -> np.ndarray:
        """Label codes in the order of ``classes_``; unknown labels are an error."""
        y = np.asarray(y)
        pos = {c: i for i, c in enumerate(self.classes_.tolist())}
        unknown = sorted({v for v in y.tolist() if v not in pos}, key=str)
        if unknown:
            raise ValueError(
                f"labels {unknown[:5]} are not among the classifier's classes "
                f"{self.classes_.tolist()}"
            )
        return np.array([pos[v] for v in y.tolist()], dtype=np.int64)

    def _store_calibration(self, probas, labels, rng) -> None:
        # Probabilities, not scores, are kept: the score, Mondrian and smoothing settings
        # can then change (set_params) without refitting the classifiers.
        codes = [self._codes(y) for y in labels]
        self.cal_proba_ = np.concatenate(probas)
        self.cal_labels_ = np.concatenate(codes)
        self.cal_folds_ = np.concatenate([np.full(len(c), k) for k, c in enumerate(codes)])
        self.cal_u_ = rng.random(len(self.cal_labels_))  # draws of randomised APS/RAPS
        self._check_mondrian()

    def _check_mondrian(self) -> None:
        if self.mondrian:
            missing = np.setdiff1d(np.arange(len(self.classes_)), self.cal_labels_)
            if len(missing):
                raise ValueError(
                    f"no calibration example of class(es) {self.classes_[missing].tolist()}: "
                    "Mondrian calibration needs each class in the calibration data"
                )

    @classmethod
    def from_calibration(cls, classes, cal_proba, cal_labels, cal_folds, cal_u, **params):
        """A predictor from stored calibration data, for p-values from stored probabilities.

        It has no classifier: use :meth:`pvalues_from_proba` with the probabilities the
        fold models gave (``fold_proba`` of the fitted predictor, saved for example as NPZ).
        """
        self = cls(None, **params)
        self.classes_ = np.asarray(classes)
        self.cal_proba_ = np.asarray(cal_proba, dtype=float)
        self.cal_labels_ = np.asarray(cal_labels, dtype=np.int64)
        self.cal_folds_ = np.asarray(cal_folds, dtype=np.int64)
        self.cal_u_ = np.asarray(cal_u, dtype=float)
        self.estimators_ = []
        self._check_mondrian()
        return self

    @property
    def n_models_(self) -> int:
        """Number of classifiers (folds) the calibration examples come from."""
        return int(self.cal_folds_.max()) + 1

    def _class_scores(self, proba: np.ndarray, u: np.ndarray) -> np.ndarray:
        randomized = self.randomized and self.score != "lac"
        return class_scores(
            proba,
            self.score,
            u=u if randomized else None,
            raps_lambda=self.raps_lambda,
            raps_k=self.raps_k,
        )

    @property
    def cal_scores_(self) -> np.ndarray:
        """Score of each calibration example's true label, with the current settings."""
        self._check_fitted()
        s = self._class_scores(self.cal_proba_, self.cal_u_)
        return s[np.arange(len(s)), self.cal_labels_]

    # -- prediction ----------------------------------------------------------------------
    def _check_fitted(self) -> None:
        if not hasattr(self, "cal_proba_"):
            raise NotFittedError(
                "this SplitConformalClassifier is not calibrated yet: call fit(X, y) "
                "(or calibrate(X_cal, y_cal) with cv='prefit') first"
            )

    def fold_proba(self, X) -> np.ndarray:
        """Each fitted classifier's probabilities, shape ``(n_models, m, n_classes)``."""
        self._check_fitted()
        if not self.estimators_:
            raise NotFittedError(
                "this predictor was built from stored calibration data and has no classifier: "
                "use pvalues_from_proba with stored probabilities"
            )
        return np.stack([m.predict_proba(X) for m in self.estimators_])

    def predict_proba(self, X) -> np.ndarray:
        """The classifier's probabilities (the mean over the fold models when cross-conformal)."""
        return self.fold_proba(X).mean(axis=0)

    def predict(self, X) -> np.ndarray:
        """Most likely label."""
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]

    def predict_pvalues(self, X) -> np.ndarray:
        """P-value of every candidate label, shape ``(m, n_classes)`` (columns = ``classes_``)."""
        return self.pvalues_from_proba(self.fold_proba(X))

    def pvalues_from_proba(self, fold_proba: np.ndarray) -> np.ndarray:
        """P-values from :meth:`fold_proba` output (lets callers reuse the probabilities)."""
        self._check_fitted()
        fold_proba = np.asarray(fold_proba, dtype=float)
        want = (self.n_models_, len(self.classes_))
        if fold_proba.ndim != 3 or (fold_proba.shape[0], fold_proba.shape[2]) != want:
            raise ValueError(
                f"fold_proba must have shape (n_models={want[0]}, m, n_classes={want[1]}), "
                f"got {fold_proba.shape}"
            )
        self._check_mondrian()
        _, m, n_labels = fold_proba.shape
        rng = np.random.default_rng(self.random_state + 1)
        theta = rng.random((m, n_labels)) if self.smooth else None
        u = rng.random(m)
        cal_scores = self.cal_scores_
        counts = np.zeros((m, n_labels))  # summed over folds: #{cal >= s} (ties smoothed)
        class_counts = np.zeros((m, n_labels))
        for k, proba in enumerate(fold_proba):
            s = self._class_scores(proba, u)
            in_fold = self.cal_folds_ == k
            counts += count_at_least(cal_scores[in_fold], s, theta)
            if self.mondrian:
                for c in range(n_labels):
                    pool = cal_scores[in_fold & (self.cal_labels_ == c)]
                    class_counts[:, c] += count_at_least(
                        pool, s[:, c], None if theta is None else theta[:, c]
                    )
        one = 1.0 if theta is None else theta
        marginal = (counts + one) / (len(cal_scores) + 1)
        if not self.mondrian:
            return marginal
        n_c = np.bincount(self.cal_labels_, minlength=n_labels).astype(float)
        per_class = (class_counts + one) / (n_c + 1)
        if self.shrinkage > 0:
            w = n_c / (n_c + self.shrinkage)
            return w * per_class + (1 - w) * marginal
        return per_class

    def sets_from_proba(self, proba: np.ndarray, eps: float) -> list[list[str]]:
        """Prediction sets at coverage ``1 - eps`` from stored probabilities.

        ``proba`` is :meth:`fold_proba` output, or one model's ``(m, n_classes)``
        probabilities (a split predictor's). Each set lists its labels by falling
        probability (the mean over the fold models).
        """
        proba = np.asarray(proba, dtype=float)
        if proba.ndim == 2:
            proba = proba[None]
        inside = self.pvalues_from_proba(proba) > eps
        order = np.argsort(-proba.mean(axis=0), axis=1, kind="stable")
        pairs = zip(order, inside, strict=True)
        return [[str(self.classes_[j]) for j in row if ok[j]] for row, ok in pairs]

    def class_eps(self, eps: float) -> np.ndarray:
        """Significance each label's p-value must exceed, shape ``(n_classes,)``.

        ``eps`` for every label, except with Mondrian calibration and ``delta``: there class
        ``c`` with ``n`` calibration songs keeps label ``c`` while its score is at most the
        ``k``-th smallest of theirs, ``k`` the least with ``P(Bin(n, 1 - eps) >= k) <= delta``
        (so the coverage, a Beta(k, n + 1 - k) variable, is >= 1 - eps with prob. 1 - delta).
        """
        eps = check_eps(eps)
        self._check_fitted()
        n_labels = len(self.classes_)
        if not (self.mondrian and self.delta is not None):
            return np.full(n_labels, eps)
        from scipy.stats import binom

        n_c = np.bincount(self.cal_labels_, minlength=n_labels)
        out = np.empty(n_labels)
        for c, n in enumerate(n_c):
            ks = np.arange(1, n + 1)
            ok = ks[binom.sf(ks - 1, n, 1 - eps) <= self.delta]
            k = ok[0] if len(ok) else n + 1  # n + 1: no order statistic is enough
            # p = (count + 1) / (n + 1) > level  <=>  count >= n - k + 1
            out[c] = (n - k + 0.5) / (n + 1) if k <= n else 0.0
        return np.minimum(out, eps)

    def predict_set(self, X, eps: float = 0.05) -> np.ndarray:
        """Boolean matrix ``(m, n_classes)``: label ``j`` is in the set of row ``i``."""
        levels = self.class_eps(eps)
        return self.predict_pvalues(X) > levels[None, :]
