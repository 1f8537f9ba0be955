"""Features for popularity: per-song columns and encodings of the ``genres`` lists.

Every encoder is a scikit-learn transformer that takes the raw subset frame
(:func:`aares.data.load_subset`, with ``genres`` already parsed into lists) and returns a
numeric :class:`pandas.DataFrame`. Encoders that learn from the target
(:class:`ListTargetEncoder`) are *cross-fitted*: ``fit_transform`` encodes each training row
with statistics computed on the other folds, so inside a :class:`~sklearn.pipeline.Pipeline`
nothing a row's own popularity says leaks into its features, and the test folds of a
cross-validation are encoded with statistics of the training folds only.

Example
-------
>>> from aares.popularity.features import make_features
>>> feats = make_features(("song", "artist_te", "genre_te"))     # doctest: +SKIP
>>> X = feats.fit_transform(subset, subset["popularity"])         # doctest: +SKIP
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.decomposition import TruncatedSVD
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.model_selection import KFold
from sklearn.utils.validation import check_is_fitted

from aares.data import AUDIO_FEATURES, parse_release_date
from aares.tables import check_frame

__all__ = [
    "ENCODINGS",
    "SongFeatures",
    "ListTargetEncoder",
    "GenreMultiHot",
    "GenreTfidf",
    "ArtistProfile",
    "FeatureBlocks",
    "make_features",
    "genre_words",
    "row_keys",
]

#: Words of track titles that mark versions of a song (live takes, remasters, remixes...).
TITLE_MARKS = ["remaster", "live", "remix", "feat", "version", "edit", "mix", "acoustic", "demo"]


def _check_frame(X, columns: Sequence[str], who: str) -> pd.DataFrame:
    return check_frame(X, columns, who, " (the Exercise 2 subset)")


def genre_words(genres: Sequence[str]) -> list[str]:
    """The words of a list of micro-genres: ``["deep punk rock"] -> ["deep", "punk", "rock"]``.

    Hyphens split words too ("hip-hop" gives "hip" and "hop", like "hip hop").

    Examples
    --------
    >>> genre_words(["k-pop", "dance pop"])
    ['k', 'pop', 'dance', 'pop']
    """
    return [w for g in genres for w in re.split(r"[\s\-&/]+", g.lower()) if w]


def row_keys(X: pd.DataFrame, column: str, keys: str) -> list[list[str]]:
    """The keys of each row: its value (``keys="value"``), list (``"list"``) or words."""
    values = X[column].tolist()
    if keys == "value":
        return [
            [] if v is None or (isinstance(v, float) and np.isnan(v)) else [str(v)] for v in values
        ]
    if keys == "list":
        return [list(v) if isinstance(v, (list, tuple)) else [] for v in values]
    if keys == "words":
        return [genre_words(v) if isinstance(v, (list, tuple)) else [] for v in values]
    if keys == "set":
        # The whole list as one key: Spotify lists an artist's genres, so an exact list
        # stands for the artist (or a close neighbour of it) even under another name.
        return [
            ["|".join(sorted(v))] if isinstance(v, (list, tuple)) and len(v) else [] for v in values
        ]
    if keys == "release":
        # The artist and the release date together: most often one album or single.
        dates = X["release_date"].astype(str).tolist()
        return [
            [] if a is None or (isinstance(a, float) and np.isnan(a)) else [f"{a}|{d}"]
            for a, d in zip(values, dates, strict=True)
        ]
    raise ValueError(f"keys must be 'value', 'list', 'words', 'set' or 'release'; got {keys!r}")


class _FrameTransformer(TransformerMixin, BaseEstimator):
    """Shared plumbing: feature names and a frame check."""

    def get_feature_names_out(self, input_features=None):
        check_is_fitted(self, "feature_names_out_")
        return np.asarray(self.feature_names_out_, dtype=object)


class SongFeatures(_FrameTransformer):
    """Per-song numeric features that need nothing learned from other songs.

    Audio features, ``explicit``, ``time_signature``, the parts and the precision of
    ``release_date``, the number of micro-genres and marks in the track title
    ("remaster", "live", "feat", ...).

    Parameters
    ----------
    title : bool, default=True
        Add title features (length, marks such as "remaster" or "feat").

    Examples
    --------
    >>> SongFeatures().fit(subset).transform(subset).shape[1]    # doctest: +SKIP
    31
    """

    columns = ["release_date", "explicit", "time_signature", "genres", *AUDIO_FEATURES]

    def __init__(self, title: bool = True):
        self.title = title

    def fit(self, X, y=None):
        X = _check_frame(X, self.columns, "SongFeatures")
        self.feature_names_out_ = list(self._transform(X.iloc[:1]).columns)
        return self

    def transform(self, X) -> pd.DataFrame:
        check_is_fitted(self, "feature_names_out_")
        return self._transform(_check_frame(X, self.columns, "SongFeatures"))

    def _transform(self, X: pd.DataFrame) -> pd.DataFrame:
        out = pd.DataFrame(index=X.index)
        for f in AUDIO_FEATURES:
            out[f] = X[f].astype(float)
        out["explicit"] = X["explicit"].astype(float)
        out["time_signature"] = X["time_signature"].astype(float)
        d = parse_release_date(X["release_date"])
        out["year"] = d["year"]
        # Missing parts become 0 (month/day) or -1 (weekday): precision tells them apart.
        out["month"] = d["month"].fillna(0)
        out["day"] = d["day"].fillna(0)
        out["date_precision"] = d["precision"].astype(float)
        out["weekday"] = d["weekday"].fillna(-1)
        out["jan_first"] = ((d["month"] == 1) & (d["day"] == 1)).astype(float)
        n = X["genres"].map(lambda g: len(g) if isinstance(g, (list, tuple)) else 0)
        out["n_genres"] = n.astype(float)
        if self.title and "track_name" in X.columns:
            name = X["track_name"].fillna("").astype(str).str.lower()
            out["title_len"] = name.str.len().astype(float)
            out["title_words"] = name.str.split().str.len().fillna(0).astype(float)
            out["title_paren"] = name.str.contains(r"[(\[]", regex=True).astype(float)
            out["title_dash"] = name.str.contains(" - ", regex=False).astype(float)
            for mark in TITLE_MARKS:
                out[f"title_{mark}"] = name.str.contains(mark, regex=False).astype(float)
            ascii_share = name.map(lambda s: sum(c.isascii() for c in s) / max(len(s), 1))
            out["title_ascii"] = ascii_share.astype(float)
        return out


class ListTargetEncoder(_FrameTransformer):
    """Cross-fitted target statistics of the keys of each row (artist, micro-genres, words).

    For every key (an artist, a micro-genre or a genre word) it learns the number of
    training songs, the smoothed mean of the target, its spread and the share of zeros;
    a row gets the mean (and for the target mean, the max and min) over its keys.
    Means are shrunk towards the global value by ``smoothing`` pseudo-songs, so a key
    seen once says little. Rows without keys get the global values and a count of 0.

    ``fit_transform`` is cross-fitted (like :class:`sklearn.preprocessing.TargetEncoder`):
    each row is encoded with statistics of the other ``cv`` folds, never with its own
    target. ``transform`` on new rows uses statistics of all the training rows.

    Parameters
    ----------
    column : str
        Column holding the keys (``"artist_name"`` or ``"genres"``).
    keys : {"value", "list", "words", "set", "release"}
        A single key per row, the list in the cell, the words of the list's items, the
        whole list as one key, or the artist and release date together.
    smoothing : float, default=5.0
        Pseudo-songs at the global mean added to every key.
    cv : int, default=5
        Folds of the cross-fitting in ``fit_transform``.
    random_state : int, default=0
        Seed of the (shuffled) cross-fitting folds.
    prefix : str, optional
        Prefix of the output column names (default: ``column`` and ``keys``).

    Examples
    --------
    >>> enc = ListTargetEncoder("genres", keys="list")                  # doctest: +SKIP
    >>> enc.fit_transform(subset, subset["popularity"]).columns[:2]      # doctest: +SKIP
    Index(['genres_mean', 'genres_mean_max'], dtype='object')
    """

    def __init__(
        self,
        column: str = "genres",
        keys: str = "list",
        smoothing: float = 5.0,
        cv: int = 5,
        random_state: int = 0,
        prefix: str | None = None,
    ):
        self.column = column
        self.keys = keys
        self.smoothing = smoothing
        self.cv = cv
        self.random_state = random_state
        self.prefix = prefix

    # -- statistics ----------------------------------------------------------------------
    def _table(self, keys: list[list[str]], y: np.ndarray):
        """Per key: training songs, smoothed mean, spread and share of zeros."""
        rows = np.repeat(np.arange(len(keys)), [len(k) for k in keys])
        flat = [k for ks in keys for k in ks]
        prior = np.array([y.mean(), y.std(), (y == 0).mean()], dtype=float)
        if not flat:
            return np.array([], dtype=object), np.empty((0, 4)), prior
        t = pd.DataFrame({"key": flat, "y": y[rows]})
        t["y2"] = t["y"] ** 2
        t["z"] = (t["y"] == 0).astype(float)
        g = t.groupby("key", sort=True).agg(
            n=("y", "size"), s=("y", "sum"), s2=("y2", "sum"), z=("z", "sum")
        )
        m = float(self.smoothing)
        mean = (g["s"] + m * prior[0]) / (g["n"] + m)
        var = (g["s2"] + m * (prior[1] ** 2 + prior[0] ** 2)) / (g["n"] + m) - mean**2
        values = np.column_stack(
            [g["n"], mean, np.sqrt(var.clip(lower=0)), (g["z"] + m * prior[2]) / (g["n"] + m)]
        ).astype(float)
        return np.asarray(g.index, dtype=object), values, prior

    def _encode(self, keys: list[list[str]], table_keys, table_values, prior) -> np.ndarray:
        out = np.empty((len(keys), 6))
        out[:] = [prior[0], prior[0], prior[0], prior[1], prior[2], 0.0]
        rows = np.repeat(np.arange(len(keys)), [len(k) for k in keys])
        flat = [k for ks in keys for k in ks]
        if not flat or len(table_keys) == 0:
            return out
        pos = pd.Index(table_keys).get_indexer(flat)  # -1: key unseen in training
        seen = pos >= 0
        v = table_values[pos[seen]]  # columns n, mean, std, zero
        t = pd.DataFrame(
            {"row": rows[seen], "n": v[:, 0], "mean": v[:, 1], "std": v[:, 2], "zero": v[:, 3]}
        )
        g = t.groupby("row", sort=True)
        agg = g.agg(
            mean=("mean", "mean"),
            mx=("mean", "max"),
            mn=("mean", "min"),
            std=("std", "mean"),
            zero=("zero", "mean"),
            n=("n", "max"),
        )
        agg["n"] = np.log1p(agg["n"])
        out[agg.index.to_numpy()] = agg.to_numpy(float)
        return out

    def _names(self) -> list[str]:
        p = self.prefix or (self.column if self.keys != "words" else f"{self.column}_words")
        return [
            f"{p}_mean",
            f"{p}_mean_max",
            f"{p}_mean_min",
            f"{p}_std",
            f"{p}_zero",
            f"{p}_log_count",
        ]

    def _y(self, X, y) -> np.ndarray:
        if y is None:
            raise ValueError("ListTargetEncoder needs the target y to fit")
        y = np.asarray(y, dtype=float)
        if y.shape != (len(X),):
            raise ValueError(f"y must have one value per row of X ({len(X)}); got {y.shape}")
        if not np.isfinite(y).all():
            raise ValueError("y holds missing or infinite values")
        return y

    # -- sklearn API ---------------------------------------------------------------------
    def fit(self, X, y):
        """Learn the statistics of every key from all of ``X``."""
        X = _check_frame(X, [self.column], "ListTargetEncoder")
        y = self._y(X, y)
        # Plain arrays (not pandas objects) so that skops can store the fitted encoder.
        self.keys_, self.values_, self.prior_ = self._table(row_keys(X, self.column, self.keys), y)
        self.feature_names_out_ = self._names()
        return self

    def fit_transform(self, X, y=None, **fit_params) -> pd.DataFrame:
        """Fit on all of ``X``; encode each row with statistics of the other folds only."""
        self.fit(X, y)
        y = self._y(X, y)
        keys = row_keys(X, self.column, self.keys)
        out = np.empty((len(X), len(self.feature_names_out_)))
        folds = KFold(self.cv, shuffle=True, random_state=self.random_state)
        for train, test in folds.split(out):
            tk, tv, prior = self._table([keys[i] for i in train], y[train])
            out[test] = self._encode([keys[i] for i in test], tk, tv, prior)
        return pd.DataFrame(out, index=X.index, columns=self.feature_names_out_)

    def transform(self, X) -> pd.DataFrame:
        """Encode rows with the statistics of all the training rows."""
        check_is_fitted(self, "values_")
        X = _check_frame(X, [self.column], "ListTargetEncoder")
        keys = row_keys(X, self.column, self.keys)
        out = self._encode(keys, self.keys_, self.values_, self.prior_)
        return pd.DataFrame(out, index=X.index, columns=self.feature_names_out_)


class GenreMultiHot(_FrameTransformer):
    """One 0/1 column per micro-genre among the ``top_n`` most frequent in the training rows.

    Examples
    --------
    >>> GenreMultiHot(top_n=3).fit(subset).feature_names_out_     # doctest: +SKIP
    ['genre=dance pop', 'genre=pop', 'genre=rock']
    """

    def __init__(self, top_n: int = 50):
        self.top_n = top_n

    def fit(self, X, y=None):
        X = _check_frame(X, ["genres"], "GenreMultiHot")
        counts = pd.Series([g for gs in row_keys(X, "genres", "list") for g in gs]).value_counts()
        self.genres_ = list(counts.index[: self.top_n])
        self.feature_names_out_ = [f"genre={g}" for g in self.genres_]
        return self

    def transform(self, X) -> pd.DataFrame:
        check_is_fitted(self, "genres_")
        X = _check_frame(X, ["genres"], "GenreMultiHot")
        col = {g: j for j, g in enumerate(self.genres_)}
        out = np.zeros((len(X), len(self.genres_)))
        for i, gs in enumerate(row_keys(X, "genres", "list")):
            for g in gs:
                if g in col:
                    out[i, col[g]] = 1.0
        return pd.DataFrame(out, index=X.index, columns=self.feature_names_out_)


class GenreTfidf(_FrameTransformer):
    """TF-IDF over the words of the micro-genres ("pop", "rock", "latin", ...).

    With ``n_components`` it returns a low-dimensional embedding instead: a
    :class:`~sklearn.decomposition.TruncatedSVD` (latent semantic analysis) of the TF-IDF.

    Parameters
    ----------
    max_features : int, default=100
        Keep the most frequent genre words.
    n_components : int, optional
        Size of the SVD embedding; ``None`` returns the TF-IDF columns themselves.
    random_state : int, default=0

    Examples
    --------
    >>> GenreTfidf(n_components=8).fit_transform(subset).shape      # doctest: +SKIP
    (8698, 8)
    """

    def __init__(
        self, max_features: int = 100, n_components: int | None = None, random_state: int = 0
    ):
        self.max_features = max_features
        self.n_components = n_components
        self.random_state = random_state

    def _docs(self, X) -> list[str]:
        X = _check_frame(X, ["genres"], "GenreTfidf")
        return [" ".join(ws) for ws in row_keys(X, "genres", "words")]

    def fit(self, X, y=None):
        self.fit_transform(X, y)
        return self

    def fit_transform(self, X, y=None, **fit_params) -> pd.DataFrame:
        docs = self._docs(X)
        self.vectorizer_ = TfidfVectorizer(
            max_features=self.max_features, token_pattern=r"[^ ]+", min_df=2
        )
        if not any(docs):  # no genre at all: one empty column keeps shapes right
            docs = [d or "_" for d in docs]
        m = self.vectorizer_.fit_transform(docs)
        if self.n_components:
            k = max(1, min(self.n_components, m.shape[1] - 1))
            self.svd_ = TruncatedSVD(k, random_state=self.random_state)
            dense = self.svd_.fit_transform(m)
            self.feature_names_out_ = [f"genre_svd{j}" for j in range(k)]
        else:
            self.svd_ = None
            dense = m.toarray()
            self.feature_names_out_ = [
                f"word={w}" for w in self.vectorizer_.get_feature_names_out()
            ]
        return pd.DataFrame(dense, index=X.index, columns=self.feature_names_out_)

    def transform(self, X) -> pd.DataFrame:
        check_is_fitted(self, "vectorizer_")
        m = self.vectorizer_.transform(self._docs(X))
        dense = self.svd_.transform(m) if self.svd_ is not None else m.toarray()
        return pd.DataFrame(dense, index=X.index, columns=self.feature_names_out_)


class ArtistProfile(_FrameTransformer):
    """How many other songs of the artist the training rows hold, and their mean features.

    Learns nothing from the target. A training row does not count itself: in
    ``fit_transform`` its artist's count and means leave it out, as for a new song.

    Examples
    --------
    >>> ArtistProfile().fit_transform(subset).columns[0]      # doctest: +SKIP
    'artist_other_songs'
    """

    features = ["energy", "danceability", "acousticness", "loudness", "speechiness", "year"]

    def _frame(self, X) -> pd.DataFrame:
        X = _check_frame(X, ["artist_name", "release_date", *self.features[:-1]], "ArtistProfile")
        f = X[self.features[:-1]].astype(float).copy()
        f["year"] = parse_release_date(X["release_date"])["year"]
        f["artist"] = X["artist_name"].fillna("").astype(str)
        return f

    def _names(self):
        return ["artist_other_songs"] + [f"artist_{c}_diff" for c in self.features]

    def fit(self, X, y=None):
        f = self._frame(X)
        g = f.groupby("artist", sort=True)
        # Plain arrays (not pandas objects) so that skops can store the fitted transformer.
        self.artists_ = np.asarray(g.size().index, dtype=object)
        self.counts_ = g.size().to_numpy(float)
        self.sums_ = g[self.features].sum(min_count=1).fillna(0).to_numpy(float)
        self.feature_names_out_ = self._names()
        return self

    def _encode(self, f: pd.DataFrame, leave_self_out: bool) -> pd.DataFrame:
        pos = pd.Index(self.artists_).get_indexer(f["artist"])
        seen = pos >= 0
        n = np.where(seen, self.counts_[pos], 0.0)
        sums = np.where(seen[:, None], self.sums_[pos], 0.0)
        own = f[self.features].to_numpy(float)
        if leave_self_out:
            n = n - 1
            sums = sums - own
        with np.errstate(invalid="ignore", divide="ignore"):
            means = sums / n[:, None]
        # How the song differs from the artist's other songs (NaN when there are none).
        out = np.column_stack([n, own - means])
        out[n == 0, 1:] = np.nan
        return pd.DataFrame(out, index=f.index, columns=self.feature_names_out_)

    def fit_transform(self, X, y=None, **fit_params) -> pd.DataFrame:
        self.fit(X)
        return self._encode(self._frame(X), leave_self_out=True)

    def transform(self, X) -> pd.DataFrame:
        check_is_fitted(self, "counts_")
        return self._encode(self._frame(X), leave_self_out=False)


def _encoding(name: str, seed: int, cv: int = 5):
    if name == "song":
        return SongFeatures()
    if name == "audio":
        return SongFeatures(title=False)
    if name == "artist_te":
        return ListTargetEncoder(
            "artist_name", keys="value", prefix="artist", random_state=seed, cv=cv
        )
    if name == "genre_te":
        return ListTargetEncoder("genres", keys="list", prefix="genre", random_state=seed, cv=cv)
    if name == "release_te":
        return ListTargetEncoder(
            "artist_name", keys="release", prefix="release", random_state=seed, cv=cv
        )
    if name == "genre_set_te":
        return ListTargetEncoder("genres", keys="set", prefix="genre_set", random_state=seed, cv=cv)
    if name == "word_te":
        return ListTargetEncoder("genres", keys="words", prefix="word", random_state=seed, cv=cv)
    if name == "multi_hot":
        return GenreMultiHot(top_n=50)
    if name == "tfidf":
        return GenreTfidf(max_features=100)
    if name == "svd":
        return GenreTfidf(max_features=300, n_components=12, random_state=seed)
    if name == "artist_profile":
        return ArtistProfile()
    raise ValueError(f"unknown encoding {name!r}; choose from {ENCODINGS}")


#: Feature blocks :func:`make_features` can combine.
ENCODINGS = [
    "song",
    "audio",
    "artist_te",
    "release_te",
    "genre_te",
    "word_te",
    "genre_set_te",
    "multi_hot",
    "tfidf",
    "svd",
    "artist_profile",
]


class FeatureBlocks(_FrameTransformer):
    """The named feature blocks side by side, as one numeric DataFrame.

    Each block is fitted with ``fit_transform`` on the training rows, so cross-fitted
    encoders stay cross-fitted. (Like :class:`~sklearn.pipeline.FeatureUnion`, with plain
    parameters and fitted state that skops can store.)

    Parameters
    ----------
    encodings : sequence of str
        Names from :data:`ENCODINGS`.
    seed : int, default=0
        Seed of the cross-fitting folds and of the SVD.
    cv : int, default=5
        Folds of the cross-fitting of the target statistics.

    Examples
    --------
    >>> FeatureBlocks(("song", "genre_te")).fit_transform(subset, y).shape   # doctest: +SKIP
    (8698, 37)
    """

    def __init__(self, encodings: Sequence[str] = ("song",), seed: int = 0, cv: int = 5):
        self.encodings = encodings
        self.seed = seed
        self.cv = cv

    def fit(self, X, y=None):
        self.fit_transform(X, y)
        return self

    def fit_transform(self, X, y=None, **fit_params) -> pd.DataFrame:
        if not self.encodings:
            raise ValueError(f"FeatureBlocks needs at least one encoding from {ENCODINGS}")
        self.blocks_ = [(name, _encoding(name, self.seed, self.cv)) for name in self.encodings]
        parts = [block.fit_transform(X, y) for _, block in self.blocks_]
        out = pd.concat(parts, axis=1)
        self.feature_names_out_ = [str(c) for c in out.columns]
        return out

    def transform(self, X) -> pd.DataFrame:
        check_is_fitted(self, "blocks_")
        return pd.concat([block.transform(X) for _, block in self.blocks_], axis=1)


def make_features(
    encodings: Sequence[str] = ("song", "artist_te", "genre_te", "tfidf"), seed: int = 0
) -> FeatureBlocks:
    """The feature step of a popularity model: the named blocks side by side.

    Blocks: ``song`` (audio, date, title), ``audio`` (audio and date only), ``artist_te``,
    ``release_te``, ``genre_te``, ``word_te``, ``genre_set_te`` (cross-fitted target
    statistics of the artist, of the artist's release of that date, of the micro-genres,
    of the genre words, of the whole genre list),
    ``multi_hot`` (top-50 micro-genres), ``tfidf`` (genre words), ``svd`` (12-d embedding
    of the TF-IDF), ``artist_profile``.
    """
    unknown = [e for e in encodings if e not in ENCODINGS]
    if unknown:
        raise ValueError(f"unknown encoding(s) {unknown}; choose from {ENCODINGS}")
    return FeatureBlocks(tuple(encodings), seed=seed)
