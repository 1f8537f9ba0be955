"""Feature engineering for genre classification, as a scikit-learn transformer.

:class:`GenreFeatures` turns the raw frame of the course files (as returned by
:func:`aares.data.load_train` without ``genre``, or :func:`aares.data.load_test`)
into numeric features. Everything it learns (per-year popularity statistics, how
often each release date occurs) is learned in ``fit``, so inside a
:class:`~sklearn.pipeline.Pipeline` nothing leaks across cross-validation folds.

Example
-------
>>> import pandas as pd
>>> raw = pd.DataFrame({"release_date": ["2015-06-23", "2003"], "explicit": [True, False],
...     "popularity": [50, 20], "danceability": [.5, .6], "energy": [.7, .2], "key": [1, 5],
...     "loudness": [-5., -12.], "mode": [1, 0], "speechiness": [.05, .04],
...     "acousticness": [.1, .9], "instrumentalness": [0., .8], "liveness": [.1, .2],
...     "valence": [.4, .3], "tempo": [120., 90.], "duration_ms": [200000, 300000],
...     "time_signature": [4, 3]})
>>> X = GenreFeatures().fit_transform(raw)
>>> X.loc[1, ["year", "precision", "duration_min"]].tolist()
[2003.0, 1.0, 5.0]
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import sklearn
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.model_selection import StratifiedKFold
from sklearn.preprocessing import TargetEncoder
from sklearn.utils.validation import check_is_fitted

from aares.data import AUDIO_FEATURES, parse_release_date
from aares.tables import check_frame

__all__ = ["GenreFeatures", "ReleaseDateGenres", "RAW_COLUMNS", "DATE_KEYS"]

#: Columns GenreFeatures needs in its input frame.
RAW_COLUMNS = ["release_date", "explicit", "popularity", *AUDIO_FEATURES, "time_signature"]


class GenreFeatures(TransformerMixin, BaseEstimator):
    """Numeric features for genre classification from the raw course columns.

    Parameters
    ----------
    date_features : bool, default=True
        Add the parts of ``release_date``: year, month, day, precision (1 = year only,
        2 = year-month, 3 = full date), weekday, day of year, flags for the
        placeholder date 1 January and for a Friday release, and a fractional year.
        Release-date features carry most of the gain over the raw audio features.
    interactions : bool, default=True
        Add ratios and combinations: key x mode as one number, energy/acousticness,
        danceability x valence, loudness relative to energy, speechiness on a log scale.
    year_stats : bool, default=True
        Add popularity and loudness relative to the songs of the same release year
        (learned in ``fit``; years unseen in ``fit`` use the global statistics), and how
        many training songs share the exact release date (songs of one album share it).

    Attributes
    ----------
    feature_names_out_ : list of str
        Names of the output columns, in order.

    Examples
    --------
    >>> from aares.genre.features import GenreFeatures
    >>> GenreFeatures(year_stats=False).fit(raw).feature_names_out_[:3]   # doctest: +SKIP
    ['popularity', 'danceability', 'energy']
    """

    def __init__(
        self, date_features: bool = True, interactions: bool = True, year_stats: bool = True
    ):
        self.date_features = date_features
        self.interactions = interactions
        self.year_stats = year_stats

    # -- helpers -------------------------------------------------------------------------
    @staticmethod
    def _check(X) -> pd.DataFrame:
        return check_frame(X, RAW_COLUMNS, "GenreFeatures", " (the course files)")

    def fit(self, X, y=None):
        """Learn per-year statistics and release-date counts from ``X``."""
        X = self._check(X)
        if self.year_stats:
            year = parse_release_date(X["release_date"])["year"]
            pop = X["popularity"].astype(float)
            loud = X["loudness"].astype(float)
            frame = pd.DataFrame({"year": year, "pop": pop, "loud": loud})
            grouped = frame.groupby("year")
            self.year_pop_mean_ = grouped["pop"].mean().to_dict()
            self.year_pop_std_ = grouped["pop"].std().fillna(pop.std()).to_dict()
            self.year_loud_mean_ = grouped["loud"].mean().to_dict()
            self.year_count_ = grouped.size().to_dict()
            self.pop_mean_, self.pop_std_ = float(pop.mean()), float(pop.std() or 1.0)
            self.loud_mean_ = float(loud.mean())
            self.date_count_ = X["release_date"].value_counts().to_dict()
        self.feature_names_out_ = list(self._transform(X.iloc[:1]).columns)
        self.n_features_in_ = len(RAW_COLUMNS)
        return self

    def transform(self, X) -> pd.DataFrame:
        """Return the numeric feature frame (no missing values)."""
        check_is_fitted(self, "feature_names_out_")
        return self._transform(self._check(X))

    def get_feature_names_out(self, input_features=None):
        check_is_fitted(self, "feature_names_out_")
        return np.asarray(self.feature_names_out_, dtype=object)

    # -- the features --------------------------------------------------------------------
    def _transform(self, X: pd.DataFrame) -> pd.DataFrame:
        out = pd.DataFrame(index=X.index)
        out["popularity"] = X["popularity"].astype(float)
        for f in AUDIO_FEATURES:
            if f != "duration_ms":
                out[f] = X[f].astype(float)
        out["duration_min"] = X["duration_ms"].astype(float) / 60_000.0
        out["explicit"] = X["explicit"].astype(float)
        out["time_signature"] = X["time_signature"].astype(float)
        if self.date_features:
            d = parse_release_date(X["release_date"])
            out["year"] = d["year"]
            # Missing parts become 0 (month/day) or -1 (weekday): precision tells them apart.
            out["month"] = d["month"].fillna(0)
            out["day"] = d["day"].fillna(0)
            out["precision"] = d["precision"].astype(float)
            out["weekday"] = d["weekday"].fillna(-1)
            out["jan_first"] = ((d["month"] == 1) & (d["day"] == 1)).astype(float)
            out["friday"] = (d["weekday"] == 4).astype(float)
            doy = pd.to_datetime(
                X["release_date"].where(d["precision"] == 3), format="%Y-%m-%d", errors="coerce"
            ).dt.day_of_year
            out["day_of_year"] = doy.fillna(0).astype(float)
            out["year_frac"] = (
                d["year"] + (d["month"].fillna(1) - 1) / 12 + (d["day"].fillna(1) - 1) / 365
            )
        if self.interactions:
            out["key_mode"] = X["key"].astype(float) * 2 + X["mode"].astype(float)
            out["energy_acoustic"] = X["energy"] - X["acousticness"]
            out["dance_valence"] = X["danceability"] * X["valence"]
            out["loud_per_energy"] = X["loudness"] / (X["energy"] + 0.05)
            out["log_speech"] = np.log(X["speechiness"].astype(float) + 1e-3)
            out["log_instrumental"] = np.log(X["instrumentalness"].astype(float) + 1e-6)
            out["log_live"] = np.log(X["liveness"].astype(float) + 1e-3)
        if self.year_stats and hasattr(self, "year_pop_mean_"):
            year = parse_release_date(X["release_date"])["year"]
            mean = year.map(self.year_pop_mean_).fillna(self.pop_mean_)
            std = year.map(self.year_pop_std_).fillna(self.pop_std_).replace(0, 1.0)
            out["pop_vs_year"] = (X["popularity"] - mean) / std
            out["loud_vs_year"] = X["loudness"] - year.map(self.year_loud_mean_).fillna(
                self.loud_mean_
            )
            out["year_count"] = year.map(self.year_count_).fillna(0).astype(float)
            out["date_count"] = X["release_date"].map(self.date_count_).fillna(0).astype(float)
        return out.astype(float)


# TargetEncoder takes a splitter as `cv` (and deprecates shuffle/random_state) since 1.9;
# only the leading "major.minor" digits are compared, so "1.10.dev0" or "1.9rc1" parse too
_SKLEARN_VERSION = tuple(int(p) for p in re.match(r"(\d+)\.(\d+)", sklearn.__version__).groups())
_SKLEARN_CV_SPLITTER = _SKLEARN_VERSION >= (1, 9)

#: Keys :class:`ReleaseDateGenres` can profile: the release date alone, or with a
#: popularity band or the explicit flag (songs of one album share all of these).
DATE_KEYS = ("release_date", "release_date+popularity", "release_date+explicit")


def _key(X: pd.DataFrame, key: str) -> pd.Series:
    if key == "release_date":
        return X["release_date"].astype(str)
    if key == "release_date+popularity":
        return X["release_date"].astype(str) + "|" + (X["popularity"] // 10).astype(str)
    if key == "release_date+explicit":
        return X["release_date"].astype(str) + "|" + X["explicit"].astype(str)
    raise ValueError(f"unknown release-date key {key!r}; choose from {DATE_KEYS}")


class ReleaseDateGenres(TransformerMixin, BaseEstimator):
    """Genre profile of each release date, learned from the training songs.

    Songs of one album share their release date, and an album rarely mixes genres, so
    the genres of the *other* training songs released the same day are a strong clue.
    This is multiclass target encoding (:class:`sklearn.preprocessing.TargetEncoder`,
    shrunk towards the overall genre shares for rare dates). ``fit_transform`` is
    cross-fitted: each training song is encoded by a model that did not see it, so the
    classifier after it learns how much to trust the clue on unseen songs, and inside a
    pipeline nothing leaks across cross-validation folds. Needs ``y`` in ``fit``.

    Parameters
    ----------
    keys : tuple of str, default=("release_date",)
        What to profile, from :data:`DATE_KEYS`.
    folds : int, default=5
        Folds of the cross-fitting in ``fit_transform``.
    seed : int, default=0
        Shuffling seed of the cross-fitting folds.

    Examples
    --------
    >>> import pandas as pd
    >>> X = pd.DataFrame({"release_date": ["2020-01-01"] * 6 + ["1999"] * 6,
    ...                   "popularity": [10] * 12, "explicit": [False] * 12})
    >>> y = ["rock", "pop"] * 3 + ["jazz"] * 6
    >>> enc = ReleaseDateGenres(folds=2).fit(X, y)
    >>> enc.get_feature_names_out().tolist()
    ['release_date_jazz', 'release_date_pop', 'release_date_rock']
    >>> enc.transform(X.iloc[[0]]).round(1).tolist()   # a 2020-01-01 song: never jazz
    [[0.0, 0.5, 0.5]]
    """

    def __init__(self, keys=("release_date",), folds: int = 5, seed: int = 0):
        self.keys = keys
        self.folds = folds
        self.seed = seed

    def _frame(self, X) -> pd.DataFrame:
        check_frame(X, ["release_date", "popularity", "explicit"], "ReleaseDateGenres")
        return pd.DataFrame({k: _key(X, k) for k in self.keys}, index=X.index)

    def _encoder(self, n_classes: int) -> TargetEncoder:
        # two genres: one column (share of the second genre) is all there is to encode
        kind = "multiclass" if n_classes > 2 else "binary"
        if _SKLEARN_CV_SPLITTER:
            cv = StratifiedKFold(self.folds, shuffle=True, random_state=self.seed)
            return TargetEncoder(target_type=kind, cv=cv)
        # before scikit-learn 1.9 the same folds were asked for with shuffle/random_state
        return TargetEncoder(target_type=kind, cv=self.folds, shuffle=True, random_state=self.seed)

    def fit(self, X, y):
        self.fit_transform(X, y)
        return self

    def fit_transform(self, X, y=None, **fit_params):
        if y is None:
            raise ValueError("ReleaseDateGenres needs the genres y in fit")
        keys = self._frame(X)
        y = np.asarray(y)
        self.classes_ = np.unique(y)
        self.encoder_ = self._encoder(len(self.classes_))
        out = self.encoder_.fit_transform(keys, y)
        self.n_features_in_ = len(RAW_COLUMNS)
        return out

    def transform(self, X) -> np.ndarray:
        check_is_fitted(self, "encoder_")
        return self.encoder_.transform(self._frame(X))

    def get_feature_names_out(self, input_features=None):
        check_is_fitted(self, "encoder_")
        return np.asarray(
            [f"{k}_{c}" for k in self.keys for c in self.classes_[len(self.classes_) == 2 :]],
            dtype=object,
        )
