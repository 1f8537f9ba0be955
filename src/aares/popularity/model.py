"""A trained popularity model that says what it is: estimator + model card + intervals.

:class:`PopularityModel` fits a model of :mod:`aares.popularity.models` (the hurdle model by
default) and records its card (:mod:`aares.modelcard`): training file, cross-validated
R2/MAE/RMSE, the input columns and what the model does without the optional ones, and the
training distribution of each feature (drift warnings).

Intervals: the ``folds``-fold out-of-fold absolute errors calibrate split-conformal
intervals: ``prediction +- q``, ``q`` the ``ceil((n + 1)(1 - eps))``-th smallest error,
clipped to [0, 100]; they hold the true popularity with probability about ``1 - eps``
(the final model, fitted on every song, is a little better than the fold models).

Example
-------
>>> from aares.popularity import load_model                              # doctest: +SKIP
>>> load_model("out/popularity/model.skops").predict(my_songs)[:2]       # doctest: +SKIP
array([41.2, 12.9])
"""

from __future__ import annotations

import os
import time
import warnings
from collections.abc import Callable

import numpy as np
import pandas as pd
from sklearn.base import RegressorMixin
from sklearn.utils.validation import check_is_fitted

from aares.cardmodel import CardModel
from aares.data import AUDIO_FEATURES, Column, parse_str_list
from aares.inputs import InputSpec, InputWarning, Optional, audio_columns, median_year, prepare
from aares.tables import as_text, match_columns, read_raw

__all__ = ["PopularityModel", "load_model", "popularity_inputs"]


def popularity_inputs(train: pd.DataFrame) -> InputSpec:
    """The popularity model's input columns, with fill values learned from ``train``."""
    required = audio_columns()
    year = median_year(train)
    ts = int(pd.Series(train["time_signature"]).mode().iloc[0])
    optional = {
        "artist_name": Optional(
            Column("artist_name", "str"), "",
            "the artist's popularity among the training songs (target encoding), its "
            "strongest clue", aliases=("artist",),
        ),
        "genres": Optional(
            Column("genres", "list"), [],
            "the Spotify micro-genres (their popularity in training and their words)",
        ),
        "release_date": Optional(
            Column("release_date", "date"), year,
            "the release-date features and the artist's releases around that date "
            "(the training median year is used)", aliases=("year",),
        ),
        "track_name": Optional(
            Column("track_name", "str"), "", "the title marks (remaster, live, feat, ...)",
            aliases=("name", "title"),
        ),
        "explicit": Optional(Column("explicit", "bool"), False, "the explicit flag"),
        "time_signature": Optional(
            Column("time_signature", "int"), ts, "the time signature (a weak clue)"
        ),
    }  # fmt: skip
    return InputSpec(required, optional)


class PopularityModel(RegressorMixin, CardModel):
    """A popularity regressor with its model card and interval calibration.

    Parameters
    ----------
    model : str, default="best"
        A name of :data:`aares.popularity.models.MODEL_NAMES`, or ``"best"``.
    seed : int, default=0
        Seed of the model, its encoders and the folds.
    folds : int, default=5
        Cross-validation folds for the card's scores and the intervals; ``0`` skips them.
    n_jobs : int, default=1
        Threads of each model fit (:func:`aares.popularity.models.make_model`).

    Attributes
    ----------
    estimator_, card_, inputs_ : the fitted pipeline, the card, the input columns.
    """

    kind = "popularity"
    #: input columns passed through to predictions (the truth, when a file has it)
    passthrough = ("popularity",)

    def __init__(self, model: str = "best", seed: int = 0, folds: int = 5, n_jobs: int = 1):
        self.model = model
        self.seed = seed
        self.folds = folds
        self.n_jobs = n_jobs

    def fit(
        self,
        X: pd.DataFrame,
        y=None,
        source: str | os.PathLike | None = None,
        on_step: Callable[[str], None] | None = None,
    ):
        """Cross-validate, fit on all of ``X`` (the subset's columns) and write the card.

        ``y`` defaults to ``X["popularity"]``.
        """
        from aares.popularity.compare import cross_validate_models
        from aares.popularity.models import BEST_MODEL, make_model

        if self.folds and self.folds < 2:
            raise ValueError(f"folds must be 0 (no cross-validation) or >= 2, got {self.folds}")
        if y is None:
            if not (isinstance(X, pd.DataFrame) and "popularity" in X.columns):
                raise ValueError("PopularityModel.fit: no y given and no 'popularity' column in X")
            y = X["popularity"]
        # the columns every model and the card read; a model's features name any other
        X, y = self._check_training(X, y, [*AUDIO_FEATURES, "release_date", "time_signature"])
        y = y.astype(float)
        if not np.isfinite(y).all():
            raise ValueError("PopularityModel.fit: y holds missing or infinite popularity values")
        name = BEST_MODEL if self.model == "best" else self.model
        cv, arrays, cv_seconds = None, None, 0.0
        if self.folds:
            t0 = time.perf_counter()
            table, oof = cross_validate_models(
                X.assign(popularity=y), [name], n_splits=self.folds, seed=self.seed,
                on_step=on_step, n_jobs=self.n_jobs,
            )  # fmt: skip
            cv_seconds = time.perf_counter() - t0
            row = table.loc[name]
            cv = {"folds": self.folds, "seed": self.seed}
            cv.update({k: round(float(row[k]), 4) for k in ("r2", "r2_std", "mae", "rmse")})
            arrays = {"abs_errors": np.abs(y - oof[name].to_numpy(float)).astype(np.float32)}
        t0 = time.perf_counter()
        self.estimator_ = make_model(name, seed=self.seed, n_jobs=self.n_jobs).fit(X, y)
        fit_seconds = time.perf_counter() - t0
        card = self._make_card(
            X, source, popularity_inputs(X), [*AUDIO_FEATURES, "year"],
            model={"name": name, "seed": self.seed, "estimator": type(self.estimator_).__name__},
            target="popularity",
            target_summary={"mean": round(float(y.mean()), 2), "zeros": int((y == 0).sum())},
            cv=cv,
            timing={"fit_seconds": round(fit_seconds, 2), "cv_seconds": round(cv_seconds, 2)},
        )  # fmt: skip
        self._set(card, arrays)
        if arrays is not None:
            self.card_["calibration"] = {
                "method": f"split-conformal intervals from the {self.folds}-fold out-of-fold "
                "absolute errors of every training song",
                "songs": int(len(y)),
                "half_width": {str(e): round(self.half_width(e), 2) for e in (0.1, 0.2)},
            }
        return self

    @classmethod
    def _params_from_card(cls, card: dict) -> dict:
        folds = (card.get("cv") or {}).get("folds", 0)
        return {"model": card["model"]["name"], "seed": card["model"]["seed"], "folds": folds}

    def prepare(self, X) -> tuple[pd.DataFrame, pd.DataFrame]:
        """As :meth:`CardModel.prepare`; a Kaggle-layout ``artists`` list stands in for
        ``artist_name`` (its first artist)."""
        if isinstance(X, (str, os.PathLike)):
            raw, file = read_raw(X), str(X)
        else:
            raw, file = as_text(pd.DataFrame(X).reset_index(drop=True)), "<DataFrame>"
        found, _ = match_columns(raw, ["artist_name", "artist", "artists"], file)
        if "artists" in found and not ({"artist_name", "artist"} & set(found)):
            lists = parse_str_list(raw[found["artists"]], file=file, column=found["artists"])
            raw = raw.assign(artist_name=[a[0] if a else "" for a in lists])
            warnings.warn(
                f"{file}: no 'artist_name' column: using the first artist of "
                f"{found['artists']!r} instead", InputWarning, stacklevel=2,
            )  # fmt: skip
        check_is_fitted(self, "estimator_")
        frame, _ = prepare(raw, self.inputs_, self.card_["drift"]["profile"], file=file)
        return frame, raw

    # -- prediction ----------------------------------------------------------------------
    def predict(self, X, prepared: bool = False) -> np.ndarray:
        """Predicted popularity (0-100) of each song of any table or file."""
        check_is_fitted(self, "estimator_")
        frame = X if prepared else self.prepare(X)[0]
        return np.clip(self.estimator_.predict(frame), 0, 100)

    def half_width(self, eps: float) -> float:
        """Half-width of the ``1 - eps`` interval (the conformal quantile of the errors)."""
        from aares.conformal._validation import check_eps

        eps = check_eps(eps)
        if not self.calibration_:
            raise ValueError(
                "this model has no calibration for intervals: it was trained with --folds 0"
            )
        errors = np.sort(np.asarray(self.calibration_["abs_errors"], float))
        k = int(np.ceil((len(errors) + 1) * (1 - eps)))
        return float(errors[k - 1]) if k <= len(errors) else float("inf")

    def predict_frame(self, X, eps: float | None = None, prepared: bool = False) -> pd.DataFrame:
        """A table: ``popularity_predicted`` and with ``eps`` the interval's bounds."""
        pred = self.predict(X, prepared=prepared)
        out = pd.DataFrame({"popularity_predicted": pred.round(2)})
        if eps is not None:
            q = self.half_width(eps)
            out["popularity_low"] = np.clip(pred - q, 0, 100).round(2)
            out["popularity_high"] = np.clip(pred + q, 0, 100).round(2)
        return out


def load_model(path: str | os.PathLike) -> PopularityModel:
    """Load an aares popularity model file, card first (see :meth:`CardModel.load`)."""
    return PopularityModel.load(path)
