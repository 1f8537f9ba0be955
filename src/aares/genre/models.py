"""The genre classifiers aares compares, as unfitted scikit-learn pipelines.

Every model is a :class:`~sklearn.pipeline.Pipeline` that starts with
:class:`~aares.genre.features.GenreFeatures`, so it takes the raw course frame
(``load_train(...)`` without ``genre``, or ``load_test(...)``) in ``fit``/``predict``
and nothing learned from the data leaks across cross-validation folds.

Example
-------
>>> from aares.genre.models import make_model, BEST_MODEL
>>> model = make_model(BEST_MODEL, seed=0)                        # doctest: +SKIP
>>> model.fit(train.drop(columns="genre"), train["genre"])       # doctest: +SKIP
>>> model.predict(test)[:3]                                       # doctest: +SKIP
array(['pop', 'rock', 'hip hop'], dtype=object)
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.dummy import DummyClassifier
from sklearn.ensemble import (
    ExtraTreesClassifier,
    HistGradientBoostingClassifier,
    RandomForestClassifier,
)
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.validation import check_is_fitted

from aares.genre.features import GenreFeatures, ReleaseDateGenres

__all__ = [
    "MODEL_NAMES",
    "BEST_MODEL",
    "make_model",
    "ENSEMBLES",
    "BALANCED_STRENGTH",
    "ProbabilityAverage",
    "PriorCorrected",
    "limit_threads",
]


class ProbabilityAverage(ClassifierMixin, BaseEstimator):
    """Soft voting: the weighted mean of the members' ``predict_proba``.

    Each member is a full pipeline (features included) so members may use different
    features. All members must see the same classes in ``fit``.

    Parameters
    ----------
    estimators : list of (name, estimator)
        The members, cloned in ``fit``.
    weights : list of float, optional
        One weight per member (equal weights when omitted).

    Examples
    --------
    >>> from sklearn.dummy import DummyClassifier
    >>> import numpy as np
    >>> avg = ProbabilityAverage([("a", DummyClassifier()), ("b", DummyClassifier())])
    >>> avg.fit(np.zeros((4, 1)), ["x", "y", "y", "y"]).predict(np.zeros((1, 1)))
    array(['y'], dtype='<U1')
    """

    def __init__(self, estimators, weights=None):
        self.estimators = estimators
        self.weights = weights

    def fit(self, X, y):
        if not self.estimators:
            raise ValueError("ProbabilityAverage needs at least one estimator")
        if self.weights is not None and len(self.weights) != len(self.estimators):
            raise ValueError(
                f"ProbabilityAverage: {len(self.weights)} weights for "
                f"{len(self.estimators)} estimators"
            )
        self.estimators_ = [clone(est).fit(X, y) for _, est in self.estimators]
        self.classes_ = self.estimators_[0].classes_
        for est in self.estimators_[1:]:
            if not np.array_equal(est.classes_, self.classes_):
                raise ValueError("ProbabilityAverage: members learned different classes")
        return self

    def predict_proba(self, X):
        check_is_fitted(self, "estimators_")
        w = np.ones(len(self.estimators_)) if self.weights is None else np.asarray(self.weights)
        proba = sum(wi * est.predict_proba(X) for wi, est in zip(w, self.estimators_, strict=True))
        return proba / w.sum()

    def predict(self, X):
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]


#: Default exponent of the class-frequency correction in balanced mode.
BALANCED_STRENGTH = 0.5


class PriorCorrected(ClassifierMixin, BaseEstimator):
    """Balanced mode: divide a classifier's probabilities by its class frequencies.

    A classifier trained on imbalanced classes predicts ``p(genre | x)``, which favours
    frequent genres such as pop. Dividing by the training frequency to the power
    ``strength`` and renormalising moves the decision towards equal priors: ``strength=1``
    gives the likelihood ratio (best for F1-macro), ``0`` leaves the model unchanged.

    Parameters
    ----------
    estimator : classifier with predict_proba
        Cloned and fitted in ``fit``.
    strength : float, default=0.5
        Exponent of the class-frequency correction.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.dummy import DummyClassifier
    >>> clf = PriorCorrected(DummyClassifier(strategy="prior"), strength=1.0)
    >>> clf.fit(np.zeros((4, 1)), ["x", "y", "y", "y"]).predict_proba(np.zeros((1, 1)))
    array([[0.5, 0.5]])
    """

    def __init__(self, estimator, strength: float = BALANCED_STRENGTH):
        self.estimator = estimator
        self.strength = strength

    def fit(self, X, y):
        self.estimator_ = clone(self.estimator).fit(X, y)
        self.classes_ = self.estimator_.classes_
        y = np.asarray(y)
        self.class_prior_ = np.array([np.mean(y == c) for c in self.classes_])
        return self

    def predict_proba(self, X):
        check_is_fitted(self, "estimator_")
        proba = self.estimator_.predict_proba(X) / self.class_prior_**self.strength
        return proba / proba.sum(axis=1, keepdims=True)

    def predict(self, X):
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]


def limit_threads(estimator, n_jobs: int = 1):
    """Set every ``n_jobs`` inside ``estimator`` (pipelines and soft-voting lists included).

    One thread per model is often faster on a busy machine: LightGBM's OpenMP threads wait
    for each other at every tree, and lose much time when the cores are shared.
    """
    params = estimator.get_params(deep=True)
    # Only settings a model chose (None means scikit-learn's default, often a no-op).
    chosen = [k for k, v in params.items() if k.split("__")[-1] == "n_jobs" and v is not None]
    estimator.set_params(**dict.fromkeys(chosen, n_jobs))
    for _, member in getattr(estimator, "estimators", None) or []:
        limit_threads(member, n_jobs)
    for attr in ("estimator",):
        inner = getattr(estimator, attr, None)
        if inner is not None and hasattr(inner, "get_params"):
            limit_threads(inner, n_jobs)
    return estimator


def _pipe(clf, *, scale: bool = False, date_genres: bool = True, seed: int = 0) -> Pipeline:
    features = GenreFeatures()
    if date_genres:
        # audio + date features, plus the genre profile of each release date
        features = FeatureUnion(
            [("songs", features), ("date_genres", ReleaseDateGenres(seed=seed))]
        )
    steps = [("features", features)]
    if scale:
        steps.append(("scale", StandardScaler()))
    steps.append(("clf", clf))
    return Pipeline(steps)


def _lightgbm(seed: int, n_jobs: int | None):
    from lightgbm import LGBMClassifier

    # LightGBM's OpenMP threads spin while waiting: on a busy 2-core machine two threads
    # were measured 27x slower than one, so it uses a single thread unless told otherwise.
    # 150 trees, not 300: half the CPU of every fit and prediction (most of `make run`'s
    # genre step). In 5-fold CV the ensemble's F1-micro goes 0.536 -> 0.533 and its log loss
    # improves (1.438 -> 1.434: past ~200 trees LightGBM grows overconfident); staged
    # predictions of the same folds, BENCHMARKS.md "Genre step of make run".
    # 63 bins per feature instead of 255: 12 % less CPU per fit, the same scores in 5-fold CV
    # (ensemble F1-micro 0.5315 against 0.5325, log loss 1.4330 against 1.4339); column-wise
    # histograms forced, as LightGBM chose them itself after timing both at every fit (5 %).
    return LGBMClassifier(
        n_estimators=150,
        learning_rate=0.05,
        num_leaves=31,
        min_child_samples=20,
        subsample=0.8,
        subsample_freq=1,
        colsample_bytree=0.5,
        max_bin=63,
        force_col_wise=True,
        random_state=seed,
        n_jobs=1 if n_jobs is None else n_jobs,
        verbose=-1,
    )


def _forest_jobs(n_jobs: int | None) -> int:
    # the forests' threads share nothing while they grow trees: both cores of the course
    # machines and CI by default
    return 2 if n_jobs is None else n_jobs


def _extra_trees(seed: int, n_jobs: int | None):
    # Each tree node stores one probability per genre: 300 trees with leaves of 2 songs made
    # a 1.25 GB model file; 100 trees with leaves of 5 songs keep it near 130 MB.
    return ExtraTreesClassifier(
        n_estimators=100,
        max_features=0.5,
        min_samples_leaf=5,
        random_state=seed,
        n_jobs=_forest_jobs(n_jobs),
    )


#: Soft-voting ensembles: name -> ((member model name, weight), ...). Their members are
#: ordinary models of MODEL_NAMES, so cross-validation reuses the members' predictions.
#: The members and weights had the lowest out-of-fold log loss among 3-model mixtures of
#: the models below (5-fold CV): the MLP's smoother probabilities complement the trees',
#: which also makes conformal prediction sets smaller (LAC over 100 deals with a 25 %
#: calibration share: 6.09 -> 6.01 genres; BENCHMARKS.md and the README).
ENSEMBLES: dict[str, tuple[tuple[str, float], ...]] = {
    "ensemble": (("lightgbm", 0.6), ("extra_trees", 0.2), ("mlp", 0.2)),
}


def _build(name: str, seed: int, n_jobs: int | None):
    if name in ENSEMBLES:
        members = ENSEMBLES[name]
        return ProbabilityAverage(
            [(m, _build(m, seed, n_jobs)) for m, _ in members], weights=[w for _, w in members]
        )
    if name == "majority":
        return _pipe(DummyClassifier(strategy="most_frequent"), date_genres=False)
    if name == "knn":
        return _pipe(
            KNeighborsClassifier(n_neighbors=30, weights="distance"), scale=True, seed=seed
        )
    if name == "logreg":
        return _pipe(LogisticRegression(C=1.0, max_iter=2000), scale=True, seed=seed)
    if name == "random_forest":
        return _pipe(
            RandomForestClassifier(
                n_estimators=200,
                min_samples_leaf=1,
                random_state=seed,
                n_jobs=_forest_jobs(n_jobs),
            ),
            seed=seed,
        )
    if name == "extra_trees":
        return _pipe(_extra_trees(seed, n_jobs), seed=seed)
    if name == "hist_gb":
        return _pipe(
            HistGradientBoostingClassifier(
                learning_rate=0.1, max_iter=100, early_stopping=False, random_state=seed
            ),
            seed=seed,
        )
    if name == "lightgbm":
        return _pipe(_lightgbm(seed, n_jobs), seed=seed)
    if name == "extra_trees_no_date_genres":
        return _pipe(_extra_trees(seed, n_jobs), date_genres=False)
    if name == "mlp":
        return _pipe(
            MLPClassifier(
                hidden_layer_sizes=(64,),
                alpha=1e-3,
                early_stopping=True,
                max_iter=100,
                random_state=seed,
            ),
            scale=True,
            seed=seed,
        )
    raise ValueError(f"unknown genre model {name!r}; choose from {MODEL_NAMES} or 'best'")


#: Every model `aares genre compare` evaluates, simplest first. All but the majority
#: baseline and ``extra_trees_no_date_genres`` (the ablation) use the release-date profiles.
MODEL_NAMES = [
    "majority",
    "knn",
    "logreg",
    "random_forest",
    "extra_trees",
    "hist_gb",
    "extra_trees_no_date_genres",
    "lightgbm",
    "mlp",
    "ensemble",
]

#: The model `aares genre train` fits by default: the best F1-micro and log loss in 5-fold
#: CV, and its balanced mode has the best F1-macro (BENCHMARKS.md).
BEST_MODEL = "ensemble"


def make_model(
    name: str = "best",
    seed: int = 0,
    balanced: bool = False,
    strength: float = BALANCED_STRENGTH,
    n_jobs: int | None = None,
):
    """An unfitted genre classifier by name.

    Parameters
    ----------
    name : str, default="best"
        One of :data:`MODEL_NAMES`, or ``"best"`` for :data:`BEST_MODEL`.
    seed : int, default=0
        Random seed of every random part.
    balanced : bool, default=False
        Wrap the model in :class:`PriorCorrected` so rare genres are predicted more
        often (higher F1-macro, lower F1-micro).
    strength : float, default=0.5
        Exponent of the class-frequency correction in balanced mode.
    n_jobs : int, optional
        Threads of every model part that has threads (the forests, LightGBM); ``None``
        gives each its measured default: 2 for the forests, 1 for LightGBM (its waiting
        threads spin, 27x slower with two on a busy 2-core machine). The forests'
        predictions do not depend on it.

    Returns
    -------
    estimator
        Unfitted; ``fit(X_raw, y)``, ``predict`` and ``predict_proba`` take the raw frame.

    Examples
    --------
    >>> make_model("logreg").steps[0][0]
    'features'
    >>> make_model("random_forest", n_jobs=1).get_params()["clf__n_jobs"]
    1
    """
    model = _build(BEST_MODEL if name == "best" else name, seed, n_jobs)
    return PriorCorrected(model, strength=strength) if balanced else model
