"""The popularity regressors aares compares, as unfitted scikit-learn pipelines.

Every model is a :class:`~sklearn.pipeline.Pipeline` whose first step is a
:func:`~aares.popularity.features.make_features` union, so it takes the raw subset frame
(``load_subset(...)``) in ``fit``/``predict`` and every target statistic is learned inside
the training rows (cross-fitted), never from the rows it predicts.

Example
-------
>>> from aares.popularity.models import make_model, BEST_MODEL
>>> model = make_model(BEST_MODEL, seed=0)                        # doctest: +SKIP
>>> model.fit(subset, subset["popularity"])                       # doctest: +SKIP
>>> model.predict(subset)[:3]                                     # doctest: +SKIP
array([41.2,  3.5, 12.9])
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin, clone
from sklearn.dummy import DummyRegressor
from sklearn.ensemble import HistGradientBoostingRegressor, RandomForestRegressor
from sklearn.impute import SimpleImputer
from sklearn.linear_model import Ridge
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.validation import check_is_fitted

from aares.popularity.features import make_features

__all__ = [
    "MODEL_NAMES",
    "BEST_MODEL",
    "FULL_FEATURES",
    "HurdleRegressor",
    "make_model",
    "lightgbm_regressor",
    "ladder_models",
]

#: Feature blocks of the full models (see :func:`~aares.popularity.features.make_features`).
FULL_FEATURES = ("song", "artist_te", "release_te", "genre_te", "word_te", "tfidf", "svd")


class HurdleRegressor(RegressorMixin, BaseEstimator):
    """Popularity 0 apart: a classifier for "zero" and a regressor for the other songs.

    The prediction is the expected value ``(1 - p0) * mu``, where ``p0`` is the
    classifier's probability of a zero and ``mu`` the regressor's prediction for a
    non-zero song; with ``zero_threshold`` set, songs with ``p0 >= zero_threshold``
    get exactly 0.

    Parameters
    ----------
    classifier : classifier with ``predict_proba``
        Learns ``y == 0`` on all the rows.
    regressor : regressor
        Learns ``y`` on the rows where ``y != 0``.
    zero_threshold : float, optional
        Predict 0 when the classifier is at least this sure of a zero.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LinearRegression, LogisticRegression
    >>> X = np.arange(20.0)[:, None]
    >>> y = np.where(X[:, 0] < 10, 0.0, X[:, 0])
    >>> h = HurdleRegressor(LogisticRegression(), LinearRegression()).fit(X, y)
    >>> bool(h.predict([[0.0]])[0] < 1.0), bool(abs(h.predict([[19.0]])[0] - 19) < 1.0)
    (True, True)
    """

    def __init__(self, classifier, regressor, zero_threshold: float | None = None):
        self.classifier = classifier
        self.regressor = regressor
        self.zero_threshold = zero_threshold

    def fit(self, X, y):
        y = np.asarray(y, dtype=float)
        if y.ndim != 1 or len(y) != len(X):
            raise ValueError(f"y must be 1-D with one value per row of X ({len(X)})")
        zero = y == 0
        if zero.all() or not zero.any():
            raise ValueError("HurdleRegressor needs both zero and non-zero targets to fit")
        self.classifier_ = clone(self.classifier).fit(X, zero.astype(int))
        rows = np.flatnonzero(~zero)
        X_pos = X.iloc[rows] if hasattr(X, "iloc") else np.asarray(X)[rows]
        self.regressor_ = clone(self.regressor).fit(X_pos, y[rows])
        self.n_features_in_ = getattr(self.regressor_, "n_features_in_", None)
        return self

    def predict_zero_proba(self, X) -> np.ndarray:
        """Probability that each song has popularity 0."""
        check_is_fitted(self, "classifier_")
        classes = list(self.classifier_.classes_)
        return self.classifier_.predict_proba(X)[:, classes.index(1)]

    def predict(self, X) -> np.ndarray:
        p0 = self.predict_zero_proba(X)
        mu = np.asarray(self.regressor_.predict(X), dtype=float)
        pred = (1.0 - p0) * mu
        if self.zero_threshold is not None:
            pred[p0 >= self.zero_threshold] = 0.0
        return pred


def _lightgbm_params(
    seed: int, n_estimators: int, learning_rate: float, n_jobs: int, params: dict
) -> dict:
    # small leaves, slow learning and row/column sampling: the settings tuned for this subset
    base = dict(
        n_estimators=n_estimators,
        learning_rate=learning_rate,
        num_leaves=15,
        min_child_samples=30,
        subsample=0.8,
        subsample_freq=1,
        colsample_bytree=0.5,
        n_jobs=n_jobs,
        random_state=seed,
        verbose=-1,
    )
    base.update(params)
    return base


def lightgbm_regressor(seed: int = 0, n_jobs: int = 1, **params):
    """The tuned LightGBM regressor of aares (small leaves, slow learning, column sampling)."""
    import lightgbm as lgb

    return lgb.LGBMRegressor(**_lightgbm_params(seed, 800, 0.015, n_jobs, params))


def lightgbm_classifier(seed: int = 0, n_jobs: int = 1, **params):
    """The LightGBM classifier of the hurdle model (popularity 0 or not)."""
    import lightgbm as lgb

    return lgb.LGBMClassifier(**_lightgbm_params(seed, 600, 0.02, n_jobs, params))


def _pipe(model, features: Sequence[str], seed: int, linear: bool = False) -> Pipeline:
    steps = [("features", make_features(features, seed=seed))]
    if linear:  # ridge needs no missing values and comparable scales
        steps += [("impute", SimpleImputer()), ("scale", StandardScaler())]
    return Pipeline(steps + [("model", model)])


def make_model(
    name: str = "best", seed: int = 0, features: Sequence[str] | None = None, n_jobs: int = 1
) -> Pipeline:
    """An unfitted popularity model by name.

    Parameters
    ----------
    name : str
        One of :data:`MODEL_NAMES` (or ``"best"`` for :data:`BEST_MODEL`):

        - ``mean``: predicts the training mean (the baseline);
        - ``ridge``, ``random_forest``, ``hist_gb``: on the full features;
        - ``lightgbm_audio``: LightGBM on audio features and date only (no artist or genre);
        - ``lightgbm``: tuned LightGBM on the full features;
        - ``hurdle``: LightGBM classifier for popularity 0 times LightGBM regressor
          for the other songs, on the full features.
    seed : int
        Seed of the models and of the cross-fitting folds.
    features : sequence of str, optional
        Feature blocks instead of the model's default (see ``make_features``).
    n_jobs : int, default=1
        Threads of the random forest and of LightGBM. One by default: on a loaded 2-core
        machine LightGBM's OpenMP threads contend so badly that two ran 50x slower than
        one (measured).

    Examples
    --------
    >>> make_model("hurdle", n_jobs=2).get_params()["model__regressor__n_jobs"]
    2
    """
    name = BEST_MODEL if name == "best" else name
    full = tuple(features) if features is not None else FULL_FEATURES
    if name == "mean":
        return _pipe(DummyRegressor(), features or ("audio",), seed)
    if name == "ridge":
        return _pipe(Ridge(alpha=10.0), full, seed, linear=True)
    if name == "random_forest":
        rf = RandomForestRegressor(
            n_estimators=150,
            min_samples_leaf=5,
            max_features=0.33,
            n_jobs=n_jobs,
            random_state=seed,
        )
        return _pipe(rf, full, seed)
    if name == "hist_gb":
        hgb = HistGradientBoostingRegressor(
            max_iter=400, learning_rate=0.03, min_samples_leaf=30, random_state=seed
        )
        return _pipe(hgb, full, seed)
    if name == "lightgbm_audio":
        return _pipe(lightgbm_regressor(seed, n_jobs), features or ("audio",), seed)
    if name == "lightgbm":
        return _pipe(lightgbm_regressor(seed, n_jobs), full, seed)
    if name == "hurdle":
        hurdle = HurdleRegressor(
            lightgbm_classifier(seed, n_jobs), lightgbm_regressor(seed, n_jobs)
        )
        return _pipe(hurdle, full, seed)
    raise ValueError(f"unknown model {name!r}; choose from {MODEL_NAMES} or 'best'")


#: Feature ladder: each step adds blocks to the previous one (name, blocks added).
LADDER = [
    ("audio features + date", ("audio",)),
    ("+ artist target encoding", ("artist_te",)),
    ("+ micro-genre target encoding", ("genre_te",)),
    ("+ TF-IDF of genre words", ("tfidf",)),
    ("+ title features", ("song",)),
    ("+ release, genre-word encodings, SVD", ("release_te", "word_te", "svd")),
]


def ladder_models(seed: int = 0, n_jobs: int = 1) -> dict[str, Pipeline]:
    """Tuned LightGBM on growing feature sets, then the hurdle model on the last one.

    Shows what each block adds (the steps the issue's baselines describe).
    """
    models, blocks = {}, ()
    for name, added in LADDER:
        # "song" holds the audio block and the title features: it replaces "audio".
        blocks = tuple(b for b in blocks if b != "audio" or "song" not in added) + added
        if set(blocks) == set(FULL_FEATURES):  # same column order as the full models
            blocks = FULL_FEATURES
        models[name] = _pipe(lightgbm_regressor(seed, n_jobs), blocks, seed)
    models["+ zero / non-zero split (hurdle)"] = make_model(
        "hurdle", seed=seed, features=blocks, n_jobs=n_jobs
    )
    return models


#: Models of ``aares popularity compare``, in table order.
MODEL_NAMES = ["mean", "ridge", "random_forest", "hist_gb", "lightgbm_audio", "lightgbm", "hurdle"]

#: The model ``train`` uses by default (best R2 in 5-fold CV, see BENCHMARKS.md).
BEST_MODEL = "hurdle"
