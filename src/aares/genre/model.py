"""A trained genre model that says what it is: estimator + model card + set calibration.

:class:`GenreModel` fits one of the classifiers of :mod:`aares.genre.models` and records
everything a user of the model file needs (:mod:`aares.modelcard`): where it came from, how
well it does in cross-validation, which columns it reads and what it does without the
optional ones, and the calibration of its conformal prediction sets.

Prediction sets: ``fit`` runs ``folds``-fold cross-validation of the same settings first
(the folds' predictions are cached and shared with ``aares genre compare``); each training
song's out-of-fold probabilities give its LAC nonconformity score ``1 - p(true genre)``,
and a new song's set at ``eps`` holds every genre whose conformal p-value against those
scores exceeds ``eps`` (:class:`aares.conformal.split.SplitConformalClassifier`). The final
model is fitted on all songs, so it is a little sharper than the fold models that produced
the scores: its sets cover at least as often as the ``1 - eps`` they promise, give or take
the calibration's own noise (``aares conformal`` measures exactly valid split sets).

Example
-------
>>> from aares.genre import load_model                                    # doctest: +SKIP
>>> model = load_model("out/genre/model.skops")                           # doctest: +SKIP
>>> model.predict(my_songs)[:2]                                           # doctest: +SKIP
array(['rock', 'jazz'], dtype=object)
>>> model.predict_sets(my_songs, eps=0.1)[:2]                             # doctest: +SKIP
[['rock', 'alternative'], ['jazz']]
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
from sklearn.base import ClassifierMixin
from sklearn.utils.validation import check_is_fitted

from aares.cardmodel import CardModel, check_same
from aares.data import AUDIO_FEATURES, Column
from aares.genre.features import RAW_COLUMNS
from aares.inputs import InputSpec, Optional, audio_columns, median_year

__all__ = ["GenreModel", "load_model", "genre_inputs"]

#: The eps values whose set sizes the card records (any eps works at prediction time).
CARD_EPS = (0.05, 0.1, 0.2)


def genre_inputs(train: pd.DataFrame) -> InputSpec:
    """The genre model's input columns, with fill values learned from ``train``.

    The twelve audio features are required; ``release_date``, ``popularity``, ``explicit``
    and ``time_signature`` are optional (absent from many exports: the Kaggle catalogues
    have no ``time_signature``, playlists pulled from the API no ``release_date``).
    """
    required = audio_columns()
    year = median_year(train)
    pop = int(np.median(train["popularity"]))
    explicit = bool(train["explicit"].astype(bool).mean() > 0.5)
    ts = int(pd.Series(train["time_signature"]).mode().iloc[0])
    optional = {
        "release_date": Optional(
            Column("release_date", "date"),
            year,
            "the release-date features (year, month, day, precision) and the genres of the "
            "training songs released the same day, its strongest clues after the audio "
            "(the training median year is used)",
            aliases=("year",),
        ),
        "popularity": Optional(
            Column("popularity", "int"),
            pop,
            "popularity and popularity relative to the release year, strong clues for "
            "pop, hip hop and the older genres (the training median is used)",
        ),
        "explicit": Optional(
            Column("explicit", "bool"), explicit, "the explicit flag (a clue for hip hop)"
        ),
        "time_signature": Optional(
            Column("time_signature", "int"), ts, "the time signature (a weak clue)"
        ),
    }
    return InputSpec(required, optional)


class GenreModel(ClassifierMixin, CardModel):
    """A genre classifier with its model card and conformal calibration.

    Parameters
    ----------
    model : str, default="best"
        A name of :data:`aares.genre.models.MODEL_NAMES`, or ``"best"``.
    seed : int, default=0
        Seed of the model and of the cross-validation folds.
    balanced : bool, default=False
        The balanced mode (:class:`aares.genre.models.PriorCorrected`).
    folds : int, default=5
        Cross-validation folds for the card's scores and the set calibration; ``0`` skips
        them (no scores, no sets).
    cache_dir : path-like, optional
        Cache of out-of-fold predictions (shared with ``aares genre compare``).
    n_jobs : int, default=1
        Processes fitting the cross-validation folds; with more than one, the final model is
        fitted in this process meanwhile.

    Attributes
    ----------
    estimator_ : the fitted scikit-learn classifier (raw course columns in).
    card_ : dict, the model card. ``classes_`` : the genres.
    inputs_ : :class:`aares.inputs.InputSpec`.
    """

    kind = "genre"

    def __init__(
        self,
        model: str = "best",
        seed: int = 0,
        balanced: bool = False,
        folds: int = 5,
        cache_dir: str | os.PathLike | None = None,
        n_jobs: int = 1,
    ):
        self.model = model
        self.seed = seed
        self.balanced = balanced
        self.folds = folds
        self.cache_dir = cache_dir
        self.n_jobs = n_jobs

    # -- training ------------------------------------------------------------------------
    def fit(
        self,
        X: pd.DataFrame,
        y,
        source: str | os.PathLike | None = None,
        on_fold: Callable[[], None] | None = None,
    ):
        """Cross-validate (``folds``), fit on all of ``X``, and write the card.

        ``X`` has the training file's columns (as :func:`aares.data.load_train` gives them,
        without ``genre``); ``source`` names the training file in the card.
        """
        from aares.genre.evaluate import compare_models, score_table
        from aares.genre.models import BEST_MODEL, make_model

        if self.folds and self.folds < 2:
            raise ValueError(f"folds must be 0 (no cross-validation) or >= 2, got {self.folds}")
        X, y = self._check_training(X, y, RAW_COLUMNS)
        name = BEST_MODEL if self.model == "best" else self.model
        cv, arrays, cv_seconds = None, None, 0.0

        def cross_validate():
            t0 = time.perf_counter()
            # one pool for every member's folds (an ensemble's members are cached models)
            run = compare_models(
                X, y, [] if self.balanced else [name], balanced=[name] if self.balanced else [],
                folds=self.folds, seed=self.seed, cache_dir=self.cache_dir, on_fold=on_fold,
                n_jobs=self.n_jobs,
            )[0]  # fmt: skip
            return run, time.perf_counter() - t0

        def fit_final():
            t0 = time.perf_counter()
            est = make_model(name, seed=self.seed, balanced=self.balanced).fit(X, y)
            return est, time.perf_counter() - t0

        if self.folds and self.n_jobs != 1:
            # the final model is fitted here while the folds' processes run: both cores busy
            with ThreadPoolExecutor(1) as pool:
                job = pool.submit(cross_validate)
                self.estimator_, fit_seconds = fit_final()
                run, cv_seconds = job.result()
        else:
            run, cv_seconds = cross_validate() if self.folds else (None, 0.0)
            self.estimator_, fit_seconds = fit_final()
        if run is not None:
            scores = score_table(y, [run]).iloc[0]
            cv = {"folds": self.folds, "seed": self.seed, "cached": bool(run.cached)}
            cv.update({k: round(float(scores[k]), 4) for k in ("f1_micro", "f1_macro", "log_loss")})
            codes = np.searchsorted(run.classes, y)
            arrays = {"cal_proba": run.proba.astype(np.float32), "cal_labels": codes}
        classes, counts = np.unique(y, return_counts=True)
        card = self._make_card(
            X[RAW_COLUMNS], source, genre_inputs(X), [*AUDIO_FEATURES, "popularity", "year"],
            model={"name": name, "balanced": self.balanced, "seed": self.seed,
                   "estimator": type(self.estimator_).__name__},
            target="genre",
            classes=[str(c) for c in self.estimator_.classes_],
            class_counts={str(c): int(n) for c, n in zip(classes, counts, strict=True)},
            cv=cv,
            timing={"fit_seconds": round(fit_seconds, 2), "cv_seconds": round(cv_seconds, 2)},
        )  # fmt: skip
        self._set(card, arrays)
        if arrays is not None:
            self.card_["calibration"] = self._calibration_summary()
        return self

    def _set(self, card: dict, arrays: dict | None) -> None:
        super()._set(card, arrays)
        self.classes_ = np.asarray(self.estimator_.classes_)

    @classmethod
    def _params_from_card(cls, card: dict) -> dict:
        m = card["model"]
        folds = (card.get("cv") or {}).get("folds", 0)
        return {"model": m["name"], "seed": m["seed"], "balanced": m["balanced"], "folds": folds}

    def _check_loaded(self, path) -> None:
        check_same(path, "genres", [str(c) for c in self.classes_], self.card_["classes"])

    def _conformal(self):
        from aares.conformal.split import SplitConformalClassifier

        if not self.calibration_:
            raise ValueError(
                "this model has no calibration for prediction sets: it was trained with "
                "folds=0 (`aares genre train --folds 0`); retrain with --folds 5"
            )
        labels = np.asarray(self.calibration_["cal_labels"], dtype=np.int64)
        zeros = np.zeros(len(labels))
        return SplitConformalClassifier.from_calibration(
            self.classes_, self.calibration_["cal_proba"], labels, zeros.astype(np.int64),
            zeros, score="lac",
        )  # fmt: skip

    def _calibration_summary(self) -> dict:
        cp = self._conformal()
        proba = np.asarray(self.calibration_["cal_proba"], float)
        labels = np.asarray(self.calibration_["cal_labels"])
        pvalues = cp.pvalues_from_proba(proba[None])
        sizes = {}
        for eps in CARD_EPS:
            sets = pvalues > eps
            covered = sets[np.arange(len(labels)), labels]
            sizes[str(eps)] = {
                "mean_set_size": round(float(sets.sum(axis=1).mean()), 2),
                "coverage_on_calibration": round(float(covered.mean()), 4),
            }
        return {
            "method": "conformal p-values of the LAC score 1 - p(genre) against the "
            f"{self.card_['cv']['folds']}-fold out-of-fold probabilities of every training song",
            "score": "lac",
            "songs": int(len(labels)),
            "by_eps": sizes,
        }

    # -- prediction ----------------------------------------------------------------------
    def predict_proba(self, X, prepared: bool = False) -> np.ndarray:
        """Genre probabilities, shape ``(songs, genres)`` (columns = ``classes_``).

        ``X`` is any table or file (see :meth:`prepare`); ``prepared=True`` says it is
        :meth:`prepare`'s frame already (no second parsing, no repeated warnings).
        """
        check_is_fitted(self, "estimator_")
        return self.estimator_.predict_proba(X if prepared else self.prepare(X)[0])

    def predict(self, X) -> np.ndarray:
        """The most likely genre of each song."""
        proba = self.predict_proba(X)  # first: NotFittedError before fit
        return self.classes_[np.argmax(proba, axis=1)]

    def sets_from_proba(self, proba: np.ndarray, eps: float) -> list[list[str]]:
        """Conformal sets at ``1 - eps`` from probabilities, genres by falling probability."""
        return self._conformal().sets_from_proba(proba, eps)

    def predict_sets(self, X, eps: float = 0.1) -> list[list[str]]:
        """Each song's conformal prediction set at coverage ``1 - eps``."""
        from aares.conformal._validation import check_eps

        return self.sets_from_proba(self.predict_proba(X), check_eps(eps))

    def predict_frame(
        self, X, top: int = 3, eps: float | None = None, prepared: bool = False
    ) -> pd.DataFrame:
        """A table: ``genre``, ``probability``, the next ``top - 1`` genres with theirs,
        and with ``eps`` the prediction ``set`` (genres joined by ``|``) and ``set_size``."""
        proba = self.predict_proba(X, prepared=prepared)
        order = np.argsort(-proba, axis=1, kind="stable")
        rows = np.arange(len(proba))
        out = pd.DataFrame({"genre": self.classes_[order[:, 0]],
                            "probability": proba[rows, order[:, 0]].round(4)})  # fmt: skip
        for k in range(1, min(max(top, 1), len(self.classes_))):
            out[f"genre_{k + 1}"] = self.classes_[order[:, k]]
            out[f"probability_{k + 1}"] = proba[rows, order[:, k]].round(4)
        if eps is not None:
            from aares.conformal._validation import check_eps

            sets = self.sets_from_proba(proba, check_eps(eps))
            out["set"] = ["|".join(s) for s in sets]
            out["set_size"] = [len(s) for s in sets]
        return out


def load_model(path: str | os.PathLike) -> GenreModel:
    """Load an aares genre model file, card first.

    A file that is not an aares genre model (a pickle, a foreign skops file, a popularity
    model) is refused with a :class:`aares.modelcard.ModelFileError` before any of it is
    loaded; the skops part is then loaded with :func:`aares.genre.persist.load_model`
    (trusted types only).
    """
    return GenreModel.load(path)
