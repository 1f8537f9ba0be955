"""The feature space in which close songs make a playlist.

Design (each choice measured by the genre-agreement proxy of :mod:`aares.recommend.evaluate`,
figures in BENCHMARKS.md, section "recommend"):

1. **Which features.** The 0-1 perceptual features (danceability, energy, valence,
   acousticness, speechiness, instrumentalness, liveness), loudness, tempo, duration and mode,
   plus release **year** and **popularity**. Year belongs: production style (loudness war,
   drum sounds, acoustic recordings) and listeners' eras are strong signals of taste, and it
   raised genre agreement on the proxy. ``key`` is left out: a pitch class is nominal (C is
   not "between" B and C#), and songs of one style are spread over all keys.
2. **How scaled.** Skewed features are first made more symmetric so that one odd value does
   not dominate a distance: ``sqrt`` for speechiness, instrumentalness and liveness (most songs
   sit near 0 where small differences matter most), ``log`` for duration and tempo (ratios,
   not differences, are what one hears). Then every column is standardised (z-score), which
   puts tempo (BPM) and loudness (dB) on the same footing as the 0-1 features.
3. **How weighted: learned from genres.** The 25k songs with a labelled genre (Exercise 1)
   teach which directions separate styles: linear discriminant analysis (LDA) on the
   standardised features gives a projection where songs of one genre are close and different
   genres far apart (a Mahalanobis metric learned from labels). The space is the
   concatenation of the standardised features (weight ``1 - lda_weight``) and the LDA
   coordinates (weight ``lda_weight``), so that sounds that *no* genre label captures still
   count. Without genre labels, the space is just the standardised features.
4. **Similarity.** Vectors are L2-normalised after centring and compared with the cosine
   (= inner product), which an approximate index (HNSW) supports directly; on unit
   vectors it ranks exactly like the Euclidean distance.

Example
-------
>>> from aares.recommend.space import FeatureSpace
>>> import pandas as pd, numpy as np
>>> rng = np.random.default_rng(0)
>>> df = pd.DataFrame({c: rng.random(50) for c in FeatureSpace().columns})
>>> FeatureSpace().fit(df).transform(df).shape   # no genres: one dimension per feature
(50, 13)
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from aares.data import DataError, parse_release_date

__all__ = ["FeatureSpace", "BASE_FEATURES", "feature_frame"]

#: (column, transform) of the base space, in order.
BASE_FEATURES: list[tuple[str, str]] = [
    ("danceability", "identity"),
    ("energy", "identity"),
    ("valence", "identity"),
    ("acousticness", "identity"),
    ("speechiness", "sqrt"),
    ("instrumentalness", "sqrt"),
    ("liveness", "sqrt"),
    ("loudness", "identity"),
    ("tempo", "log"),
    ("duration_ms", "log"),
    ("mode", "identity"),
]
EXTRA_FEATURES = ["year", "popularity"]


def feature_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Add ``year`` from ``release_date`` when a frame (train, subset) has no ``year`` column."""
    if "year" not in frame.columns and "release_date" in frame.columns:
        frame = frame.copy()
        frame["year"] = parse_release_date(frame["release_date"])["year"]
    return frame


def _transform(values: np.ndarray, how: str) -> np.ndarray:
    if how == "sqrt":
        return np.sqrt(np.clip(values, 0, None))
    if how == "log":
        return np.log(np.clip(values, 1e-3, None))
    return values


def _inverse(value: float, how: str) -> float:
    # back to the feature's own unit, for explanations
    if how == "sqrt":
        return float(value) ** 2
    if how == "log":
        return float(np.exp(value))
    return float(value)


class FeatureSpace:
    """Standardised, transformed features, optionally with an LDA metric learned from genres.

    Parameters
    ----------
    use_year, use_popularity : include release year / popularity as features.
    lda_weight : share (0-1) of the space given to the LDA coordinates when genre labels
        are passed to :meth:`fit`; 0 keeps only the standardised features.
    weights : optional per-column multipliers (after standardisation), e.g. ``{"year": 0.5}``.

    Attributes
    ----------
    columns : the input columns used.
    mean_, scale_ : standardisation learned at fit.
    lda_ : the fitted LDA (or None).
    """

    def __init__(
        self,
        use_year: bool = True,
        use_popularity: bool = True,
        lda_weight: float = 0.5,
        weights: dict[str, float] | None = None,
    ):
        self.use_year = use_year
        self.use_popularity = use_popularity
        self.lda_weight = lda_weight
        self.weights = weights

    @property
    def columns(self) -> list[str]:
        cols = [c for c, _ in BASE_FEATURES]
        if self.use_year:
            cols.append("year")
        if self.use_popularity:
            cols.append("popularity")
        return cols

    def _raw(self, frame: pd.DataFrame) -> np.ndarray:
        frame = feature_frame(frame)
        missing = [c for c in self.columns if c not in frame.columns]
        if missing:
            raise DataError(
                f"the song table lacks feature column(s) {missing}; "
                f"expected the catalogue columns {self.columns}"
            )
        hows = dict(BASE_FEATURES)
        out = np.empty((len(frame), len(self.columns)), dtype=np.float64)
        for j, c in enumerate(self.columns):
            col = pd.to_numeric(frame[c], errors="coerce").to_numpy(dtype=np.float64)
            out[:, j] = _transform(col, hows.get(c, "identity"))
        return out

    def fit(self, frame: pd.DataFrame, genres=None, genre_frame: pd.DataFrame | None = None):
        """Learn the scaling from ``frame`` (the catalogue) and the LDA from labelled songs.

        Parameters
        ----------
        frame : the catalogue (or any songs) with the feature columns.
        genres : genre labels of ``genre_frame`` (e.g. the Exercise 1 training set).
        genre_frame : the labelled songs; when ``None``, ``genres`` label ``frame`` itself.
        """
        if not 0.0 <= self.lda_weight <= 1.0:
            raise ValueError(f"lda_weight must be within [0, 1], got {self.lda_weight}")
        X = self._raw(frame)
        self.mean_ = np.nanmean(X, axis=0)
        self.scale_ = np.nanstd(X, axis=0)
        self.scale_[~(self.scale_ > 0)] = 1.0
        w = np.ones(len(self.columns))
        for c, v in (self.weights or {}).items():
            if c not in self.columns:
                raise ValueError(f"weights names unknown column {c!r}; columns: {self.columns}")
            w[self.columns.index(c)] = v
        self.column_weights_ = w
        self.lda_ = None
        if genres is not None and self.lda_weight > 0:
            from sklearn.discriminant_analysis import LinearDiscriminantAnalysis

            Z = self._standardise(self._raw(frame if genre_frame is None else genre_frame))
            y = np.asarray(genres)
            if len(y) != len(Z):
                raise ValueError(f"{len(y)} genre labels for {len(Z)} labelled songs")
            self.lda_ = LinearDiscriminantAnalysis(solver="svd").fit(Z, y)
            L = self.lda_.transform(Z)
            self.lda_scale_ = L.std(axis=0).mean() or 1.0
            self.n_lda_ = L.shape[1]
        return self

    def _standardise(self, X: np.ndarray) -> np.ndarray:
        Z = (X - self.mean_) / self.scale_
        return np.nan_to_num(Z, nan=0.0)

    def transform(self, frame: pd.DataFrame, normalise: bool = True) -> np.ndarray:
        """Vectors of the songs in ``frame`` (float32, unit length when ``normalise``)."""
        if not hasattr(self, "mean_"):
            raise ValueError("FeatureSpace is not fitted; call fit(frame) first")
        Z = self._standardise(self._raw(frame)) * self.column_weights_
        if self.lda_ is not None:
            L = self.lda_.transform(Z / self.column_weights_.clip(1e-12)) / self.lda_scale_
            # balance the two blocks by their number of dimensions
            a = np.sqrt(self.lda_weight / L.shape[1])
            b = np.sqrt((1.0 - self.lda_weight) / Z.shape[1])
            Z = np.hstack([b * Z, a * L])
        if normalise:
            Z = Z / np.maximum(np.linalg.norm(Z, axis=1, keepdims=True), 1e-12)
        return Z.astype(np.float32)

    def fit_transform(self, frame: pd.DataFrame, genres=None, genre_frame=None) -> np.ndarray:
        return self.fit(frame, genres, genre_frame).transform(frame)

    def block_names(self) -> list[str]:
        """Name of each output dimension (features, then ``lda1..``)."""
        names = list(self.columns)
        if getattr(self, "lda_", None) is not None:
            names += [f"lda{i + 1}" for i in range(self.n_lda_)]
        return names
