"""Playlists from seed songs: nearest neighbours in a designed space, then listener rules.

:class:`PlaylistRecommender` works like a scikit-learn estimator: ``fit(catalogue)`` builds
the song vectors (:class:`~aares.recommend.space.FeatureSpace`, blended with each artist's
average sound) and a neighbour index; ``recommend(seeds, n)`` returns a playlist table.

How a playlist is made
----------------------
1. **Vectors.** A song's vector is ``(1 - artist_weight) * song + artist_weight * artist``,
   where ``artist`` is the mean vector of that artist's songs. One track's audio features are
   a noisy measurement of a style; the artist's catalogue is a much steadier one, and
   listeners' tastes (and genre labels) attach to artists. This raised genre agreement on
   the proxy more than any single feature (BENCHMARKS.md, "recommend").
2. **Candidates per seed.** Each seed gets its own neighbour list, so several seeds give a
   playlist that covers each seed's neighbourhood rather than the (possibly empty) region
   around their mean. Picks are taken in turn from each seed's list.
3. **Rules** applied while picking: no seed, no second version of a song already in the
   playlist or of a seed (same core title and a shared artist, see
   :func:`~aares.recommend.catalog.song_keys`), at most ``max_per_artist`` songs by one
   artist (default 2).
4. **Diversity** (maximal marginal relevance, Carbonell & Goldstein 1998): each pick
   maximises ``(1 - diversity) * sim(song, seed) - diversity * max sim(song, picked)``.
5. **Explanation.** Each pick names the features on which it is closest to its seed among
   those where the seed stands out, e.g. ``"energy 0.91~0.88, year 2012~2010"``.

At 1M+ songs
------------
Everything in :meth:`PlaylistRecommender.fit` is linear in the number of songs (features,
artist means, version keys, the title dictionary); the one step that is not is the search:
the exact index is one (songs x dims) matrix-vector product per seed, which grows with the
catalogue (32 ms for 310 candidates at 1M songs on the benchmark machine).
``index="auto"`` therefore switches to an approximate HNSW graph (faiss, the optional extra
``aares[ann]``; exact search without it) from 1M songs on (inner product, ``M=16``,
``ef=200``): a one-off build of a few minutes for a query under a millisecond, with
recall@10 against exact search near 1 (BENCHMARKS.md, "recommend"). The vectors take
``songs x dims x 4`` bytes (about 140 MB at 1M).

Example
-------
>>> from aares.recommend.playlist import PlaylistRecommender   # doctest: +SKIP
>>> rec = PlaylistRecommender().fit(catalogue)                  # doctest: +SKIP
>>> rec.playlist(["Bohemian Rhapsody"], n=10)                   # doctest: +SKIP
"""

from __future__ import annotations

import importlib.util
import time

import numpy as np
import pandas as pd

from aares.recommend.catalog import SeedIndex, normalise_artist_lists, song_keys
from aares.recommend.space import FeatureSpace

__all__ = ["PlaylistRecommender", "ExactIndex", "HNSWIndex", "ann_available", "artist_centroids"]


class ExactIndex:
    """Exact inner-product search by one matrix product (fast up to a few 100k songs)."""

    def __init__(self, vectors: np.ndarray):
        self.vectors = np.ascontiguousarray(vectors, dtype=np.float32)

    def query(self, q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        sims = self.vectors @ np.asarray(q, dtype=np.float32)
        k = min(k, len(sims))
        top = np.argpartition(-sims, k - 1)[:k]
        top = top[np.argsort(-sims[top], kind="stable")]
        return top, sims[top]


class _MaskedIndex:
    """Exact search over some rows only, answering with the rows' catalogue indices."""

    def __init__(self, vectors: np.ndarray, rows: np.ndarray):
        self.rows = rows
        self.index = ExactIndex(vectors[rows])

    def query(self, q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        top, sims = self.index.query(q, k)
        return self.rows[top], sims


def ann_available() -> bool:
    """Whether the approximate index can be built (faiss, the optional extra ``aares[ann]``)."""
    return importlib.util.find_spec("faiss") is not None


class HNSWIndex:
    """Approximate inner-product search in an HNSW graph (faiss's, for 1M+ songs).

    ``M`` and ``ef_construction`` trade build time for recall; ``ef`` is the query-time beam.
    faiss is an optional dependency: ``pip install 'aares[ann]'``.
    """

    def __init__(self, vectors: np.ndarray, M: int = 16, ef_construction: int = 100, ef=200):
        try:
            import faiss
        except ImportError:
            raise ImportError(
                "the approximate index needs faiss: pip install 'aares[ann]' (or faiss-cpu)"
            ) from None
        self.vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        self.ef = ef
        self.index = faiss.IndexHNSWFlat(self.vectors.shape[1], M, faiss.METRIC_INNER_PRODUCT)
        self.index.hnsw.efConstruction = ef_construction
        self.index.add(self.vectors)
        self._params = faiss.SearchParametersHNSW

    def query(self, q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        k = min(k, len(self.vectors))
        q = np.ascontiguousarray(np.asarray(q, dtype=np.float32)[None, :])
        sims, labels = self.index.search(q, k, params=self._params(efSearch=max(k, self.ef)))
        found = labels[0] >= 0  # -1 pads a beam that found fewer than k songs
        return labels[0][found].astype(np.int64), sims[0][found]


def artist_centroids(
    vectors: np.ndarray, artists: list[list[str]], normalised: bool = False
) -> np.ndarray:
    """For each song, the mean vector of all songs by its first credited artist.

    ``normalised=True`` says the artist names are already normalised.

    Examples
    --------
    >>> import numpy as np
    >>> artist_centroids(np.array([[1.0, 0], [0, 1.0], [1, 1]]), [["a"], ["a"], ["b"]])
    array([[0.5, 0.5],
           [0.5, 0.5],
           [1. , 1. ]])
    """
    lists = artists if normalised else normalise_artist_lists(artists)
    first = [a[0] if len(a) else "" for a in lists]
    codes, uniq = pd.factorize(pd.Series(first))
    sums = np.zeros((len(uniq), vectors.shape[1]))
    np.add.at(sums, codes, vectors)
    counts = np.bincount(codes, minlength=len(uniq))[:, None]
    return (sums / counts)[codes]


class PlaylistRecommender:
    """Song-to-playlist recommender over a catalogue.

    Parameters
    ----------
    space : the :class:`FeatureSpace` (default: year and popularity on, LDA half-weight).
    artist_weight : share (0-1) of each song's vector taken from its artist's mean sound.
    max_per_artist : most songs by one artist in a playlist (seeds' artists included).
    diversity : default MMR trade-off in [0, 1]; 0 = pure similarity.
    index : ``"exact"`` (matrix product), ``"hnsw"`` (approximate, for 1M+ songs) or
        ``"auto"`` (hnsw from 1M songs on).
    n_candidates : neighbours fetched per seed before the rules and MMR are applied.

    Attributes
    ----------
    vectors_ : (songs, dims) unit vectors; ``fit_time_`` : seconds to build.
    """

    def __init__(
        self,
        space: FeatureSpace | None = None,
        artist_weight: float = 0.7,
        max_per_artist: int = 2,
        diversity: float = 0.0,
        index: str = "auto",
        n_candidates: int = 300,
    ):
        self.space = space
        self.artist_weight = artist_weight
        self.max_per_artist = max_per_artist
        self.diversity = diversity
        self.index = index
        self.n_candidates = n_candidates

    # ------------------------------------------------------------------ fit

    def fit(self, catalogue: pd.DataFrame, genres=None, genre_frame=None):
        """Build vectors, version keys and the neighbour index for ``catalogue``.

        ``catalogue`` has the recommendation file's columns (``name``, ``artists`` as lists,
        ``id``, features, ``year``, ``popularity``); ``genres``/``genre_frame`` (e.g. the
        Exercise 1 training set) let the space learn its LDA metric.
        """
        if not 0.0 <= self.artist_weight <= 1.0:
            raise ValueError(f"artist_weight must be within [0, 1], got {self.artist_weight}")
        if self.max_per_artist < 1:
            raise ValueError(f"max_per_artist must be >= 1, got {self.max_per_artist}")
        if self.index not in ("auto", "exact", "hnsw"):
            raise ValueError(f"index must be auto, exact or hnsw, got {self.index!r}")
        for col in ("name", "artists"):
            if col not in catalogue.columns:
                raise ValueError(f"the catalogue lacks the column {col!r}")
        if len(catalogue) < 2:
            raise ValueError("the catalogue needs at least 2 songs")
        t0 = time.perf_counter()
        cat = catalogue.reset_index(drop=True)
        self.space_ = self.space if self.space is not None else FeatureSpace()
        self.space_.fit(cat, genres, genre_frame)
        V = self.space_.transform(cat, normalise=False).astype(np.float64)
        self.explain_z_ = self.space_._standardise(self.space_._raw(cat)).astype(np.float32)
        self.raw_ = self.space_._raw(cat).astype(np.float32)
        feats = cat.reindex(columns=self.space_.columns)
        self.feature_medians_ = {c: float(feats[c].median()) for c in self.space_.columns}
        artists = [list(a) for a in cat["artists"]]
        self.artist_norm_ = normalise_artist_lists(artists)
        if self.artist_weight > 0:
            A = artist_centroids(V, self.artist_norm_, normalised=True)
            V = (1 - self.artist_weight) * V + self.artist_weight * A
        V /= np.maximum(np.linalg.norm(V, axis=1, keepdims=True), 1e-12)
        self.vectors_ = V.astype(np.float32)
        self.names_ = cat["name"].astype(str).to_numpy(dtype=object)
        self.artists_ = artists
        self.seed_index_ = SeedIndex(
            self.names_,
            artists,
            cat.get("popularity"),
            cat.get("year"),
            artist_norm=self.artist_norm_,
        )
        self.keys_ = song_keys(self.names_, artists, self.seed_index_.cores, self.artist_norm_)
        self.ids_ = cat["id"].astype(str).to_numpy(dtype=object) if "id" in cat else None
        self.years_ = cat["year"].to_numpy() if "year" in cat else np.zeros(len(cat), int)
        pop = cat["popularity"].to_numpy(float) if "popularity" in cat else np.zeros(len(cat))
        self.popularity_ = pop
        kind = self.index
        if kind == "auto":
            kind = "hnsw" if len(cat) >= 1_000_000 and ann_available() else "exact"
        self.index_ = HNSWIndex(self.vectors_) if kind == "hnsw" else ExactIndex(self.vectors_)
        self.fit_time_ = time.perf_counter() - t0
        return self

    def _check(self):
        if not hasattr(self, "vectors_"):
            raise ValueError("PlaylistRecommender is not fitted; call fit(catalogue) first")

    # ------------------------------------------------------------------ seeds

    def find(self, title: str, artist: str | None = None) -> int:
        """Row of a seed song by tolerant title/artist search (see :class:`SeedIndex`)."""
        self._check()
        return self.seed_index_.find(title, artist)

    def playlist(
        self, titles: list[str], artists: list[str | None] | None = None, **kwargs
    ) -> pd.DataFrame:
        """:meth:`recommend` from seed titles (each with an optional artist)."""
        artists = list(artists or [])
        artists += [None] * (len(titles) - len(artists))
        seeds = [self.find(t, a) for t, a in zip(titles, artists, strict=True)]
        return self.recommend(seeds, **kwargs)

    # ------------------------------------------------------------------ recommend

    def recommend(
        self,
        seeds,
        n: int = 10,
        diversity: float | None = None,
        max_per_artist: int | None = None,
        seed_vectors: np.ndarray | None = None,
        seed_features: pd.DataFrame | None = None,
        artist_scores: dict[str, float] | None = None,
        artist_blend: float = 0.0,
        allowed: np.ndarray | None = None,
    ) -> pd.DataFrame:
        """A playlist of ``n`` songs for the seed rows ``seeds``.

        Parameters
        ----------
        seeds : catalogue row indices of the seed songs (may be empty when
            ``seed_vectors`` are given, e.g. for a new song known only by its features).
        n : playlist length.
        diversity : MMR trade-off in [0, 1] (default: the instance's ``diversity``).
        max_per_artist : overrides the artist cap for this playlist.
        seed_vectors : extra seed vectors in the space (unit length), e.g. a new song.
        seed_features : the features of the ``seed_vectors`` songs (one row each), used to
            explain the picks.
        artist_scores : optional collaborative score in [0, 1] per normalised artist name;
            relevance becomes ``(1 - artist_blend) * similarity + artist_blend * score``.
        allowed : optional boolean mask of songs that may be picked.

        Returns
        -------
        DataFrame with ``rank, row, id, name, artists, year, popularity, similarity, seed,
        why``, one row per pick.
        """
        self._check()
        lam = self.diversity if diversity is None else diversity
        cap = self.max_per_artist if max_per_artist is None else max_per_artist
        if not 0.0 <= lam <= 1.0:
            raise ValueError(f"diversity must be within [0, 1], got {lam}")
        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        seeds = [int(s) for s in seeds]
        for s in seeds:
            if not 0 <= s < len(self.vectors_):
                raise ValueError(
                    f"seed row {s} is outside the catalogue (0..{len(self.vectors_) - 1})"
                )
        qs = [self.vectors_[s] for s in seeds]
        if seed_vectors is not None:
            qs += list(np.atleast_2d(np.asarray(seed_vectors, dtype=np.float32)))
        if not qs:
            raise ValueError("give at least one seed song (or a seed vector)")

        banned_keys: set[str] = set()
        for s in seeds:
            banned_keys.update(self.keys_[s])
        per_artist: dict[str, int] = {}
        for s in seeds:
            for a in self.artist_norm_[s][:1]:
                per_artist[a] = per_artist.get(a, 0) + 1
        seed_set = set(seeds)
        k = self.n_candidates + 10 * len(qs)
        search = self.index_ if allowed is None else self._sub_index(allowed)
        lists = []
        for q in qs:
            idx, sims = search.query(q, k)
            rel = sims.astype(np.float64)
            if artist_scores:
                collab = np.array(
                    [
                        max((artist_scores.get(a, 0.0) for a in self.artist_norm_[i]), default=0.0)
                        for i in idx
                    ]
                )
                rel = (1 - artist_blend) * rel + artist_blend * collab
                order = np.argsort(-rel, kind="stable")
                idx, rel = idx[order], rel[order]
            # candidates' vectors and their largest similarity to the songs picked so far
            lists.append([idx, rel, self.vectors_[idx], np.full(len(idx), -np.inf)])
        dead = [np.zeros(len(lst[0]), bool) for lst in lists]  # ruled out for good

        picked: list[int] = []
        picked_seed: list[int] = []
        picked_rel: list[float] = []
        turn, stalled = 0, 0
        while len(picked) < n and stalled < len(qs):
            j = turn % len(qs)
            turn += 1
            idx, rel, _, max_sim = lists[j]
            if lam > 0 and picked:
                # maximal marginal relevance: relevance against redundancy with the picks
                order = np.argsort(-((1 - lam) * rel - lam * max_sim), kind="stable")
            else:
                order = np.flatnonzero(~dead[j])  # sorted by relevance already
            best = -1
            for t in order:
                if dead[j][t]:
                    continue
                # the rules only ever turn a candidate from allowed to banned
                if not self._allowed(int(idx[t]), seed_set, banned_keys, per_artist, cap, picked):
                    dead[j][t] = True
                    continue
                best = int(t)
                break
            if best < 0:
                stalled += 1
                continue
            stalled = 0
            c = int(idx[best])
            picked.append(c)
            picked_seed.append(j)
            picked_rel.append(float(rel[best]))
            banned_keys.update(self.keys_[c])
            for a in self.artist_norm_[c][:1]:
                per_artist[a] = per_artist.get(a, 0) + 1
            if lam > 0:
                for lst in lists:
                    lst[3] = np.maximum(lst[3], lst[2] @ self.vectors_[c])
        return self._table(picked, picked_seed, picked_rel, seeds, seed_features)

    def _sub_index(self, allowed) -> ExactIndex:
        # exact search restricted to a mask of songs, cached for repeated calls with one mask
        mask = np.asarray(allowed, dtype=bool)
        if mask.shape != (len(self.vectors_),):
            raise ValueError(
                f"allowed must be a boolean mask of {len(self.vectors_)} songs, got {mask.shape}"
            )
        key = hash(mask.tobytes())
        cached = getattr(self, "_sub_index_cache", None)
        if cached is None or cached[0] != key:
            rows = np.flatnonzero(mask)
            if len(rows) == 0:
                raise ValueError("allowed masks out every song")
            cached = (key, _MaskedIndex(self.vectors_, rows))
            self._sub_index_cache = cached
        return cached[1]

    def _allowed(self, c, seed_set, banned_keys, per_artist, cap, picked) -> bool:
        if c in seed_set or c in picked:
            return False
        if any(k in banned_keys for k in self.keys_[c]):
            return False
        return all(per_artist.get(a, 0) < cap for a in self.artist_norm_[c][:1])

    # ------------------------------------------------------------------ explain

    def explain(self, pick: int, seed: int | None, top: int = 3, seed_features=None) -> str:
        """The features on which ``pick`` is closest to ``seed`` where the seed stands out.

        A seed outside the catalogue (``seed=None``) is described by ``seed_features``, a
        one-row frame of its features.
        """
        names = self.space_.columns
        zp = self.explain_z_[pick]
        if seed is None and seed_features is None:
            return "close to the new song's sound"
        if seed is None:
            raw_s = self.space_._raw(seed_features)[0]
            zs = self.space_._standardise(raw_s[None, :])[0]
        else:
            zs, raw_s = self.explain_z_[seed], self.raw_[seed]
        # features where the pick is close to the seed (within half a standard deviation),
        # the seed's most distinctive first (far from the average song); mode (a 0/1 flag)
        # only when nothing else is close
        gap = np.abs(zp - zs)
        score = np.abs(zs).clip(0.25, 2.5) - 2.0 * gap
        score[gap > 0.5] -= 10.0
        if "mode" in names:
            score[names.index("mode")] -= 5.0
        order = np.argsort(-score)[:top]
        parts = [self._fmt(names[j], self.raw_[pick, j], raw_s[j]) for j in order]
        same = seed is not None and set(self.artist_norm_[pick]) & set(self.artist_norm_[seed])
        prefix = "same artist; " if same else ""
        return prefix + ", ".join(parts)

    @staticmethod
    def _fmt(name: str, a: float, b: float) -> str:
        from aares.recommend.space import BASE_FEATURES, _inverse

        how = dict(BASE_FEATURES).get(name, "identity")
        a, b = _inverse(a, how), _inverse(b, how)
        if name == "duration_ms":
            return f"length {a / 60000:.1f}~{b / 60000:.1f} min"
        if name == "tempo":
            return f"tempo {a:.0f}~{b:.0f} BPM"
        if name == "loudness":
            return f"loudness {a:.1f}~{b:.1f} dB"
        if name == "mode":
            return "both minor" if b < 0.5 else "both major"
        if name in ("year", "popularity"):
            return f"{name} {a:.0f}~{b:.0f}"
        return f"{name} {a:.2f}~{b:.2f}"

    def _table(self, picked, picked_seed, picked_rel, seeds, seed_features) -> pd.DataFrame:
        rows = []
        for rank, (c, j, r) in enumerate(zip(picked, picked_seed, picked_rel, strict=True), 1):
            seed_row = seeds[j] if j < len(seeds) else None
            rows.append(
                {
                    "rank": rank,
                    "row": c,
                    "id": self.ids_[c] if self.ids_ is not None else "",
                    "name": self.names_[c],
                    "artists": ", ".join(self.artists_[c]),
                    "year": int(self.years_[c]) if pd.notna(self.years_[c]) else 0,
                    "popularity": int(self.popularity_[c]),
                    "similarity": round(float(r), 3),
                    "seed": self.names_[seed_row] if seed_row is not None else "new song",
                    "why": self.explain(
                        c,
                        seed_row,
                        seed_features=None
                        if seed_row is not None or seed_features is None
                        else seed_features.iloc[[j - len(seeds)]],
                    ),
                }
            )
        cols = ["rank", "row", "id", "name", "artists", "year", "popularity", "similarity"]
        return pd.DataFrame(rows, columns=cols + ["seed", "why"])
