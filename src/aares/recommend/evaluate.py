"""Measuring recommendations: playlist proxy measures and the collaborative offline protocol.

Playlist proxy (anyone can rerun it; no listening data needed)
--------------------------------------------------------------
The subset file gives Spotify micro-genres per song (they are artist-level tags). The songs
that have micro-genres form the pool; each seed from the pool gets a 10-song playlist drawn
from the pool, and we report:

- ``genre_agreement``: share of picks that share at least one micro-genre with their seed;
- ``dup_playlists``: share of playlists holding two versions of one song (same core title and
  artist, or a version of the seed itself);
- ``artist_diversity``: distinct artists per pick (1.0 = all different);
- ``popularity_bias``: mean popularity of the picks minus the mean of the pool.

Baselines measured in the same run: random picks and plain nearest neighbours on 9
standardised features. Seeds are split in two halves: the settings of the space are chosen
on the ``tune`` half and reported on the ``report`` half.

Collaborative protocol
----------------------
Users with >= 10 artists; per user 20 % of artists held out (seed 0); settings chosen on a
validation split carved the same way from the training part (seed 1), never on test;
Recall@10, NDCG@10, P@10 and coverage (:func:`~aares.recommend.collaborative.ranking_metrics`).
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from aares.recommend.catalog import song_keys
from aares.recommend.collaborative import (
    ALS,
    EASE,
    Blend,
    ItemKNN,
    MostPopular,
    evaluate_model,
    holdout_split,
)
from aares.recommend.space import feature_frame

__all__ = [
    "NINE_FEATURES",
    "subset_as_catalogue",
    "playlist_measures",
    "proxy_seeds",
    "evaluate_playlists",
    "collaborative_grid",
    "evaluate_collaborative",
]

NINE_FEATURES = [
    "danceability",
    "energy",
    "loudness",
    "speechiness",
    "acousticness",
    "instrumentalness",
    "liveness",
    "valence",
    "tempo",
]


def subset_as_catalogue(subset: pd.DataFrame) -> pd.DataFrame:
    """The subset file's songs that have micro-genres, in the catalogue's column layout."""
    pool = subset[subset["genres"].map(len) > 0].reset_index(drop=True)
    pool = feature_frame(pool)
    pool["name"] = pool["track_name"].astype(str)
    pool["artists"] = [[a] for a in pool["artist_name"].astype(str)]
    return pool


def proxy_seeds(n_pool: int, n_seeds: int = 2000, seed: int = 0) -> dict[str, np.ndarray]:
    """Disjoint ``tune`` and ``report`` halves of randomly drawn seed rows."""
    rng = np.random.default_rng(seed)
    rows = rng.choice(n_pool, size=min(n_seeds, n_pool), replace=False)
    half = len(rows) // 2
    return {"tune": rows[:half], "report": rows[half:]}


def playlist_measures(
    playlists: list[list[int]], seeds, genres, artists, names, popularity
) -> dict[str, float]:
    """Proxy measures of playlists (lists of pool rows), one per seed row."""
    gsets = [set(g) for g in genres]
    keys = song_keys(names, artists)
    hits, dups, div = [], [], []
    for s, pl in zip(seeds, playlists, strict=True):
        hits += [bool(gsets[s] & gsets[p]) for p in pl]
        seen = set(keys[s])
        dup = False
        for p in pl:
            if seen & set(keys[p]):
                dup = True
            seen.update(keys[p])
        dups.append(dup)
        firsts = [artists[p][0] if len(artists[p]) else "" for p in pl]
        div.append(len(set(firsts)) / max(len(pl), 1))
    picks = np.concatenate([np.asarray(p, dtype=int) for p in playlists]) if playlists else []
    pop = np.asarray(popularity, float)
    return {
        "genre_agreement": float(np.mean(hits)) if hits else float("nan"),
        "dup_playlists": float(np.mean(dups)),
        "artist_diversity": float(np.mean(div)),
        "popularity_bias": float(pop[picks].mean() - pop.mean()) if len(picks) else 0.0,
        "mean_length": float(np.mean([len(p) for p in playlists])),
    }


def _plain_knn(pool: pd.DataFrame, seeds, n: int) -> list[list[int]]:
    Z = pool[NINE_FEATURES].to_numpy(float)
    Z = (Z - Z.mean(axis=0)) / Z.std(axis=0)
    out = []
    for s in seeds:
        d = ((Z - Z[s]) ** 2).sum(axis=1)
        d[s] = np.inf
        out.append(list(np.argsort(d)[:n]))
    return out


def evaluate_playlists(
    pool: pd.DataFrame,
    configs: dict[str, dict],
    train: pd.DataFrame | None = None,
    n: int = 10,
    n_seeds: int = 2000,
    half: str = "report",
) -> pd.DataFrame:
    """Proxy measures of baselines and recommender settings on the micro-genre pool.

    Parameters
    ----------
    pool : :func:`subset_as_catalogue` output (songs with micro-genres).
    configs : name -> keyword arguments of :class:`PlaylistRecommender` plus optional
        ``space`` keyword arguments under ``"space"`` and ``"diversity"``.
    train : Exercise 1 training set (features + ``genre``) for the learned metric.
    half : which seed half to use (``"tune"`` to choose settings, ``"report"`` to report).
    """
    from aares.recommend.playlist import PlaylistRecommender
    from aares.recommend.space import FeatureSpace

    seeds = proxy_seeds(len(pool), n_seeds)[half]
    args = (pool["genres"], pool["artists"].tolist(), pool["name"], pool["popularity"])
    rows = []
    rng = np.random.default_rng(1)
    rand = [list(rng.choice(np.delete(np.arange(len(pool)), s), n, replace=False)) for s in seeds]
    rows.append({"setting": "random picks", **playlist_measures(rand, seeds, *args)})
    rows.append(
        {
            "setting": "plain 9 features",
            **playlist_measures(_plain_knn(pool, seeds, n), seeds, *args),
        }
    )
    for name, cfg in configs.items():
        cfg = dict(cfg)
        space_kw = cfg.pop("space", {})
        diversity = cfg.pop("diversity", 0.0)
        rec = PlaylistRecommender(space=FeatureSpace(**space_kw), index="exact", **cfg)
        labelled = train is not None and space_kw.get("lda_weight", 0.5) > 0
        rec.fit(pool, train["genre"] if labelled else None, train if labelled else None)
        t0 = time.perf_counter()
        pls = [rec.recommend([s], n=n, diversity=diversity)["row"].tolist() for s in seeds]
        ms = (time.perf_counter() - t0) / len(seeds) * 1000
        rows.append({"setting": name, **playlist_measures(pls, seeds, *args), "ms": ms})
    return pd.DataFrame(rows)


# ----------------------------------------------------------------------------- collaborative


#: settings tried on the validation split (kept small: each EASE fit inverts a 6k x 6k matrix)
def collaborative_grid() -> dict[str, list]:
    return {
        "most popular": [MostPopular()],
        "item-kNN": [ItemKNN(k=k, shrink=10) for k in (50, 100, 200)],
        "ALS": [ALS(factors=f, alpha=a) for f, a in ((32, 10.0), (64, 10.0), (64, 20.0))],
        "EASE": [EASE(lam=lam) for lam in (50, 100, 300)],
    }


def evaluate_collaborative(X, grid: dict[str, list] | None = None, progress=None) -> pd.DataFrame:
    """The offline protocol: choose each family's setting on validation, report it on test.

    Returns one row per family with the chosen setting, validation NDCG@10 and the test
    metrics (recall, ndcg, precision, coverage) plus fit time.
    """
    grid = grid or collaborative_grid()
    train, test, _ = holdout_split(X, 0.2, min_items=10, seed=0)
    vtrain, vtest, _ = holdout_split(train, 0.2, min_items=0, seed=1)
    rows = []
    for family, models in grid.items():
        best, best_val = None, -1.0
        for m in models:
            val = evaluate_model(m, vtrain, vtest)["ndcg"]
            if progress:
                progress(f"{family} {m!r}: validation NDCG@10 {val:.4f}")
            if val > best_val:
                best, best_val = m, val
        res = evaluate_model(best, train, test)
        rows.append({"model": family, "setting": repr(best), "val_ndcg": best_val, **res})
    return pd.DataFrame(rows)


__all__ += ["Blend"]
