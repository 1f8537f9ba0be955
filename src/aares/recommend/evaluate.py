"""Measuring recommendations: playlist proxy measures and the collaborative offline protocol.

Playlist proxy (anyone can rerun it; no listening data needed)
--------------------------------------------------------------
The subset file gives Spotify micro-genres per song (they are artist-level tags). The
catalogue songs found in it by ``id`` that have micro-genres form the pool (1,169 songs in
the course data); each pool song seeds a 10-song playlist drawn from the rest of the pool
(recommenders are fitted on the whole catalogue and search only the pool), and we report:

- ``genre_agreement``: share of picks that share at least one micro-genre with their seed;
- ``dup_playlists``: share of playlists holding two versions of one song (same core title and
  artist, or a version of the seed itself);
- ``artist_diversity``: distinct artists per pick (1.0 = all different);
- ``popularity_bias``: mean popularity of the picks minus the mean of the pool.

Baselines measured in the same run: random picks and plain nearest neighbours on 9
standardised features, + year, + popularity. Seeds are split in two halves: the settings of
the space are chosen on the ``tune`` half and reported on the ``report`` half.

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

from aares.data import CONTINUOUS_FEATURES
from aares.recommend.catalog import song_keys
from aares.recommend.collaborative import (
    ALS,
    EASE,
    Blend,
    Discovery,
    ItemKNN,
    MostPopular,
    RP3beta,
    evaluate_model,
    holdout_split,
)

__all__ = [
    "NINE_FEATURES",
    "micro_genre_pool",
    "playlist_measures",
    "proxy_seeds",
    "nearest_in_pool",
    "standardised",
    "evaluate_playlists",
    "collaborative_grid",
    "aares_blend",
    "evaluate_collaborative",
]

#: the nine continuous audio features of the issue's "plain" baselines
NINE_FEATURES = list(CONTINUOUS_FEATURES)


def micro_genre_pool(catalogue: pd.DataFrame, subset: pd.DataFrame) -> list[list[str]]:
    """Micro-genres of each catalogue song, from the subset file matched by ``id``.

    Songs absent from the subset, or present without micro-genres, get ``[]``; the songs
    with micro-genres form the proxy's pool.
    """
    with_genres = subset[subset["genres"].map(len) > 0].drop_duplicates("id")
    by_id = dict(zip(with_genres["id"].astype(str), with_genres["genres"], strict=True))
    return [list(by_id.get(str(i), [])) for i in catalogue["id"]]


def proxy_seeds(pool: np.ndarray, seed: int = 0) -> dict[str, np.ndarray]:
    """The pool's rows shuffled (seeded) and cut in two disjoint halves, ``tune`` and
    ``report``: settings are compared on the first and reported on the second."""
    rows = np.random.default_rng(seed).permutation(np.asarray(pool))
    half = len(rows) // 2
    return {"tune": rows[:half], "report": rows[half:]}


def playlist_measures(
    playlists: list[list[int]], seeds, genres, artists, names, popularity, pool=None
) -> dict[str, float]:
    """Proxy measures of playlists (lists of rows), one per seed row.

    ``genres``, ``artists``, ``names`` and ``popularity`` are per row; the popularity bias is
    measured against the mean of the ``pool`` rows (default: all rows).
    """
    # version keys of the rows involved only (the catalogue may have 1M rows)
    used = sorted({int(r) for r in seeds} | {int(r) for pl in playlists for r in pl})
    names = np.asarray(names, dtype=object)
    used_keys = song_keys(names[used], [artists[r] for r in used])
    keys = dict(zip(used, used_keys, strict=True))
    gsets = {r: set(genres[r]) for r in used}
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
    ref = pop.mean() if pool is None else pop[np.asarray(pool)].mean()
    return {
        "genre_agreement": float(np.mean(hits)) if hits else float("nan"),
        "dup_playlists": float(np.mean(dups)),
        "artist_diversity": float(np.mean(div)),
        "popularity_bias": float(pop[picks].mean() - ref) if len(picks) else 0.0,
        "mean_length": float(np.mean([len(p) for p in playlists])),
        "playlists": len(playlists),
    }


def nearest_in_pool(Z: np.ndarray, pool: np.ndarray, seeds, n: int) -> list[list[int]]:
    """The ``n`` nearest pool rows (Euclidean on ``Z``) of each seed row, itself excluded."""
    P = Z[pool]
    out = []
    for s in seeds:
        d = ((P - Z[s]) ** 2).sum(axis=1)
        d[pool == s] = np.inf
        out.append(pool[np.argsort(d, kind="stable")[:n]].tolist())
    return out


def standardised(catalogue: pd.DataFrame, columns: list[str]) -> np.ndarray:
    """Z-scores of ``columns`` over the whole catalogue (the plain baselines' space)."""
    Z = catalogue[columns].to_numpy(dtype=float)
    return (Z - Z.mean(axis=0)) / Z.std(axis=0)


def evaluate_playlists(
    catalogue: pd.DataFrame,
    genres: list[list[str]],
    configs: dict[str, dict],
    train: pd.DataFrame | None = None,
    n: int = 10,
    halves=("tune", "report"),
    progress=None,
) -> pd.DataFrame:
    """Proxy measures of baselines and recommender settings (the issue's protocol).

    Each seed is a catalogue song with micro-genres (:func:`micro_genre_pool`); its playlist
    is drawn from the other songs with micro-genres: plain baselines take the ``n`` nearest
    on standardised features, aares settings are fitted on the *whole* catalogue and search
    only the pool (``allowed``), with their rules. One row per (seed half, setting).

    Parameters
    ----------
    catalogue : the song catalogue (features, ``year``, ``popularity``, ``name``,
        ``artists``, ``id``).
    genres : micro-genres per catalogue row.
    configs : name -> keyword arguments of :class:`PlaylistRecommender`, with optional
        :class:`FeatureSpace` keyword arguments under ``"space"`` and ``"diversity"``.
    train : Exercise 1 training set (features + ``genre``) for the learned metric.
    halves : which seed halves to measure (``"tune"`` to choose settings, ``"report"``).
    """
    from aares.recommend.playlist import PlaylistRecommender
    from aares.recommend.space import FeatureSpace

    catalogue = catalogue.reset_index(drop=True)
    has = np.array([len(g) > 0 for g in genres])
    pool = np.flatnonzero(has)
    if len(pool) < n + 1:
        raise ValueError(f"only {len(pool)} catalogue songs have micro-genres; need > {n}")
    split = proxy_seeds(pool)
    args = (genres, catalogue["artists"].tolist(), catalogue["name"], catalogue["popularity"])
    plain = {
        "plain 9 features": NINE_FEATURES,
        "plain 9 + year": [*NINE_FEATURES, "year"],
        "plain 9 + year + popularity": [*NINE_FEATURES, "year", "popularity"],
    }
    picks: dict[str, dict[str, list]] = {}
    rng = np.random.default_rng(1)
    picks["random picks"] = {
        h: [rng.choice(pool[pool != s], n, replace=False).tolist() for s in split[h]]
        for h in halves
    }
    for name, cols in plain.items():
        Z = standardised(catalogue, cols)
        picks[name] = {h: nearest_in_pool(Z, pool, split[h], n) for h in halves}
    timing = {}
    for name, cfg in configs.items():
        cfg = dict(cfg)
        space_kw = cfg.pop("space", {})
        diversity = cfg.pop("diversity", 0.0)
        rec = PlaylistRecommender(space=FeatureSpace(**space_kw), index="exact", **cfg)
        labelled = train is not None and space_kw.get("lda_weight", 0.5) > 0
        rec.fit(catalogue, train["genre"] if labelled else None, train if labelled else None)
        picks[name], times = {}, []
        for h in halves:
            picks[name][h] = []
            for s in split[h]:
                t0 = time.perf_counter()
                pl = rec.recommend([s], n=n, diversity=diversity, allowed=has)
                times.append(time.perf_counter() - t0)
                picks[name][h].append(pl["row"].tolist())
        timing[name] = 1000 * float(np.median(times))
        if progress:
            progress(f"{name}: fitted in {rec.fit_time_:.1f} s, {timing[name]:.1f} ms/playlist")
    rows = []
    for h in halves:
        for name, by_half in picks.items():
            m = playlist_measures(by_half[h], split[h], *args, pool=pool)
            ms = timing.get(name, np.nan)
            rows.append({"seeds": h, "setting": name, **m, "ms": ms, "pool": len(pool)})
    return pd.DataFrame(rows)


# ----------------------------------------------------------------------------- collaborative


def aares_blend(
    als_factors: int = 32,
    als_seeds: tuple[int, ...] = (0, 1),
    als_weight: float = 4.0,
    knn: bool = False,
) -> Blend:
    """The aares accuracy model: EASE + RP3beta (+ item-kNN) + ALS, scores min-max
    normalised per user and weighted 1 : 1 (: 1) : ``als_weight``.

    The ALS weight is shared by ALS fits with different seeds (averaging them removes
    much of one fit's randomness). The defaults (two 32-factor ALS, weights 1:1:4, no
    item-kNN) had the best validation NDCG@10 of a search over the validation split.
    """
    als = [ALS(factors=als_factors, random_state=s) for s in als_seeds]
    models = [EASE(lam=100), RP3beta(), *([ItemKNN(k=100)] if knn else []), *als]
    weights = [1.0, 1.0, *([1.0] if knn else []), *[als_weight / len(als)] * len(als)]
    return Blend(models, weights)


def collaborative_grid() -> dict[str, tuple[list, float]]:
    """Settings tried on the validation split, per family, with the minimum validation
    coverage a setting must reach to be chosen (0 = none; the discovery family needs 0.25).
    Play-count weightings (binary, log, BM25) are part of the grid.

    Kept small: each EASE fit inverts a ~6k x 6k matrix.
    """
    return {
        "most popular": ([MostPopular()], 0.0),
        "item-kNN": (
            [ItemKNN(k=k, shrink=10) for k in (50, 100, 200)]
            + [ItemKNN(k=200, shrink=10, weighting="bm25")],
            0.0,
        ),
        "RP3beta": ([RP3beta(beta=b) for b in (0.1, 0.2, 0.4)], 0.0),
        "ALS": (
            [ALS(factors=f, alpha=a) for f, a in ((32, 10.0), (64, 10.0), (64, 20.0))]
            + [ALS(factors=32, weighting="log"), ALS(factors=32, alpha=2.0, weighting="bm25")],
            0.0,
        ),
        "EASE": (
            [EASE(lam=lam) for lam in (50, 100, 300)] + [EASE(lam=100, weighting="log")],
            0.0,
        ),
        "aares blend": ([aares_blend(), aares_blend(64, (0,), 3.0, knn=True)], 0.0),
        "aares discovery": (
            [Discovery(aares_blend(), RP3beta(min_item_users=1), slots, 3, 1) for slots in (2, 3)],
            0.25,
        ),
    }


def evaluate_collaborative(X, grid: dict | None = None, progress=None) -> pd.DataFrame:
    """The offline protocol: choose each family's setting on validation, report it on test.

    Each family's setting with the best validation NDCG@10 (among those reaching the
    family's minimum validation coverage, if any does) is refitted on the full training
    part and measured once on test. Returns one row per family with the chosen setting,
    its validation NDCG@10 and coverage, and the test metrics (recall, ndcg, precision,
    coverage) plus fit time; ``attrs["validation"]`` holds the validation metrics of every
    setting tried.
    """
    grid = grid or collaborative_grid()
    train, test, _ = holdout_split(X, 0.2, min_items=10, seed=0)
    vtrain, vtest, _ = holdout_split(train, 0.2, min_items=0, seed=1)
    rows, tried = [], []
    for family, spec in grid.items():
        models, min_cov = spec if isinstance(spec, tuple) else (spec, 0.0)
        scored = []
        for m in models:
            val = evaluate_model(m, vtrain, vtest)
            if progress:
                progress(
                    f"{family} {m!r}: validation NDCG@10 {val['ndcg']:.4f}, "
                    f"coverage {val['coverage']:.3f}"
                )
            scored.append((val["coverage"] >= min_cov, val["ndcg"], val["coverage"], m))
            tried.append({"model": family, "setting": repr(m), **val})
        ok, best_val, best_cov, best = max(scored, key=lambda t: (t[0], t[1]))
        res = evaluate_model(best, train, test)
        if progress:
            progress(f"{family}: test NDCG@10 {res['ndcg']:.4f}, coverage {res['coverage']:.3f}")
        rows.append(
            {
                "model": family,
                "setting": repr(best),
                "val_ndcg": best_val,
                "val_coverage": best_cov,
                **res,
            }
        )
    out = pd.DataFrame(rows)
    out.attrs["validation"] = pd.DataFrame(tried)  # every setting tried, validation metrics
    return out
