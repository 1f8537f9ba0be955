"""Cross-validating popularity models, and the figures that explain them.

:func:`cross_validate_models` runs the models of :mod:`aares.popularity.models` on the same
folds. Models whose feature step is identical share it: the features of a fold are fitted
once on its training rows (target encodings cross-fitted inside them) and reused, which is
exactly what each :class:`~sklearn.pipeline.Pipeline` would compute on its own, only faster.

Example
-------
>>> from aares.popularity.compare import cross_validate_models
>>> table, oof = cross_validate_models(subset, ["mean", "hurdle"])   # doctest: +SKIP
>>> table.loc["hurdle", "r2"]                                         # doctest: +SKIP
0.38...
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from sklearn.base import clone
from sklearn.inspection import permutation_importance
from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score
from sklearn.model_selection import GroupKFold, KFold
from sklearn.pipeline import Pipeline
from threadpoolctl import threadpool_limits

from aares.plotting import save_figure, styled, subplots
from aares.popularity.models import make_model

__all__ = [
    "folds",
    "cross_validate_models",
    "plot_predicted_vs_true",
    "plot_residuals_by_popularity",
    "raw_permutation_importance",
    "plot_importance",
]

#: Raw columns a popularity model reads (permutation importance permutes these).
INPUT_COLUMNS = ["artist_name", "track_name", "release_date", "genres", "explicit",
                 "danceability", "energy", "key", "loudness", "mode", "speechiness",
                 "acousticness", "instrumentalness", "liveness", "valence", "tempo",
                 "duration_ms", "time_signature"]  # fmt: skip


def folds(frame: pd.DataFrame, n_splits: int = 5, seed: int = 0, by_artist: bool = False):
    """The (train, test) index pairs: shuffled KFold, or GroupKFold with artists as groups.

    ``by_artist=True`` keeps every song of an artist in one fold, so the test songs'
    artists are never seen in training (a harder, honest setting for new artists).
    """
    if by_artist:
        groups = frame["artist_name"].fillna("").astype(str).to_numpy()
        cv = GroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
        return list(cv.split(frame, groups=groups))
    return list(KFold(n_splits, shuffle=True, random_state=seed).split(frame))


def cross_validate_models(
    frame: pd.DataFrame,
    names: Sequence[str],
    *,
    target: str = "popularity",
    n_splits: int = 5,
    seed: int = 0,
    by_artist: bool = False,
    models: dict[str, Pipeline] | None = None,
    on_step: Callable[[str], None] | None = None,
    n_jobs: int = 1,
    processes: int = 1,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Cross-validate models on the same folds.

    Parameters
    ----------
    frame : DataFrame
        The subset (``load_subset``), with the ``target`` column.
    names : sequence of str
        Model names for :func:`~aares.popularity.models.make_model` (or keys of ``models``).
    models : dict, optional
        Unfitted pipelines by name (a ``features`` step first) instead of ``make_model``.
    on_step : callable, optional
        Called with a short description after each fitted model (for progress bars).
    n_jobs : int, default=1
        Threads of each model (:func:`~aares.popularity.models.make_model`; ``models``
        keep their own) and of OpenMP while the folds are fitted.
    processes : int, default=1
        Processes fitting the folds at the same time (each model keeps ``n_jobs`` threads);
        the results do not depend on it. With more than one, ``on_step`` is called when a
        fold's models are all fitted.

    Returns
    -------
    table : DataFrame
        One row per model: ``r2`` (mean over folds), ``r2_std``, ``mae``, ``rmse``,
        ``r2_pooled`` (of all out-of-fold predictions) and ``fit_s`` (mean seconds to fit
        one fold, features included).
    oof : DataFrame
        Out-of-fold predictions, one column per model (and ``true``).
    """
    if target not in frame.columns:
        raise ValueError(f"the frame has no {target!r} column to predict")
    y = frame[target].to_numpy(dtype=float)
    pipes = {
        n: (models[n] if models and n in models else make_model(n, seed=seed, n_jobs=n_jobs))
        for n in names
    }
    # Group models by their (unfitted) feature step: equal repr means equal parameters.
    by_features: dict[str, list[str]] = {}
    for n, p in pipes.items():
        by_features.setdefault(repr(p.steps[0][1]), []).append(n)
    oof = pd.DataFrame(index=frame.index, columns=list(names), dtype=float)
    scores: dict[str, list[tuple[float, float, float, float]]] = {n: [] for n in names}
    splits = folds(frame, n_splits, seed, by_artist)
    step = on_step if processes == 1 else None  # a worker process cannot call it
    with Parallel(n_jobs=processes, return_as="generator") as parallel:
        fitted = parallel(
            delayed(_fit_fold)(frame, y, train, test, pipes, by_features, n_jobs, step)
            for train, test in splits
        )
        for (_, test), fold in zip(splits, fitted, strict=True):
            for n, (pred, fold_scores) in fold.items():
                oof.iloc[test, oof.columns.get_loc(n)] = pred
                scores[n].append(fold_scores)
                if on_step and step is None:
                    on_step(n)
    rows = []
    for n in names:
        s = np.asarray(scores[n])
        rows.append(
            {
                "model": n,
                "r2": s[:, 0].mean(),
                "r2_std": s[:, 0].std(),
                "mae": s[:, 1].mean(),
                "rmse": s[:, 2].mean(),
                "r2_pooled": r2_score(y, oof[n].to_numpy()),
                "fit_s": s[:, 3].mean(),
            }
        )
    oof["true"] = y
    return pd.DataFrame(rows).set_index("model"), oof


@styled
def plot_predicted_vs_true(y_true, y_pred, path, title: str = "Predicted vs true popularity"):
    """Hexbin of out-of-fold predictions against the true popularity, with the diagonal."""
    y_true, y_pred = np.asarray(y_true, float), np.asarray(y_pred, float)
    fig, ax = subplots(figsize=(6, 5.2))
    hb = ax.hexbin(y_true, y_pred, gridsize=40, mincnt=1, bins="log", cmap="viridis")
    ax.plot([0, 100], [0, 100], "r--", lw=1, label="perfect prediction")
    ax.set(
        xlabel="true popularity (0-100)",
        ylabel="predicted popularity (0-100)",
        title=title,
        xlim=(-2, 100),
        ylim=(-2, 100),
    )
    fig.colorbar(hb, ax=ax, label="songs (log scale)")
    ax.legend(loc="upper left")
    return save_figure(fig, path)


@styled
def plot_residuals_by_popularity(y_true, predictions: dict[str, np.ndarray], path):
    """Mean residual (predicted - true) and its spread per band of true popularity."""
    y_true = np.asarray(y_true, float)
    bands = pd.cut(
        y_true,
        [-0.5, 0.5, 10, 20, 30, 40, 50, 60, 70, 100],
        labels=["0", "1-10", "11-20", "21-30", "31-40", "41-50", "51-60", "61-70", "71-100"],
    )
    fig, ax = subplots(figsize=(8, 4.5))
    width = 0.8 / max(len(predictions), 1)
    x = np.arange(len(bands.categories))
    for k, (name, pred) in enumerate(predictions.items()):
        res = pd.Series(np.asarray(pred, float) - y_true).groupby(bands, observed=False)
        ax.bar(
            x + (k - (len(predictions) - 1) / 2) * width,
            res.mean(),
            width,
            yerr=res.std(),
            capsize=2,
            label=name,
            alpha=0.85,
        )
    ax.axhline(0, color="k", lw=0.8)
    counts = pd.Series(bands).value_counts().reindex(bands.categories)
    ax.set_xticks(
        x, [f"{c}\n(n={n})" for c, n in zip(bands.categories, counts, strict=True)], fontsize=8
    )
    ax.set(
        xlabel="true popularity band (songs in band)",
        ylabel="residual: predicted - true (mean ± sd)",
        title="Residuals by popularity (out-of-fold)",
    )
    ax.legend()
    return save_figure(fig, path)


def raw_permutation_importance(
    model, frame: pd.DataFrame, y, *, n_repeats: int = 3, seed: int = 0, processes: int = 1
) -> pd.DataFrame:
    """Drop in R2 when one raw input column (artist, genres, an audio feature...) is shuffled.

    ``model`` is fitted; ``frame``/``y`` should be rows it did not train on. Permuting raw
    columns (not engineered features) measures what each piece of information is worth,
    every encoding of it included. ``processes`` score the columns at the same time (the
    result does not depend on it: each column's shuffles are seeded up front).
    """
    cols = [c for c in INPUT_COLUMNS if c in frame.columns]
    X = frame[cols]
    imp = permutation_importance(
        model,
        X,
        np.asarray(y, float),
        scoring="r2",
        n_repeats=n_repeats,
        random_state=seed,
        n_jobs=processes,
    )
    out = pd.DataFrame(
        {"column": cols, "importance": imp.importances_mean, "std": imp.importances_std}
    )
    return out.sort_values("importance", ascending=False).set_index("column")


@styled
def plot_importance(importance: pd.DataFrame, path, title: str):
    """Horizontal bars of permutation importance (drop in R2) with their spread."""
    imp = importance.iloc[::-1]
    fig, ax = subplots(figsize=(7, 0.3 * len(imp) + 1.5))
    ax.barh(imp.index.astype(str), imp["importance"], xerr=imp["std"], color="tab:blue", capsize=2)
    ax.set(xlabel="drop in R2 when the column is shuffled", ylabel="input column", title=title)
    return save_figure(fig, path)


def _fit_fold(frame, y, train, test, pipes, by_features, n_jobs, on_step) -> dict:
    """Fit every model on one fold (features shared by the models that have the same):
    ``{name: (out-of-fold predictions, (r2, mae, rmse, fit seconds))}``."""
    # HistGradientBoosting takes every core through OpenMP; on a shared machine that
    # contends as badly as LightGBM's threads (see models.make_model): cap it the same way.
    with threadpool_limits(limits=n_jobs, user_api="openmp"):
        return _fit_fold_models(frame, y, train, test, pipes, by_features, on_step)


def _fit_fold_models(frame, y, train, test, pipes, by_features, on_step) -> dict:
    X_tr, X_te = frame.iloc[train], frame.iloc[test]
    out = {}
    for group in by_features.values():
        t0 = time.perf_counter()
        feats = clone(pipes[group[0]].steps[0][1])
        F_tr = feats.fit_transform(X_tr, y[train])
        F_te = feats.transform(X_te)
        feat_s = time.perf_counter() - t0
        for n in group:
            t0 = time.perf_counter()
            rest = Pipeline([(s, clone(e)) for s, e in pipes[n].steps[1:]])
            rest.fit(F_tr, y[train])
            fit_s = feat_s + time.perf_counter() - t0
            pred = np.asarray(rest.predict(F_te), dtype=float)
            yt = y[test]
            out[n] = (
                pred,
                (
                    r2_score(yt, pred),
                    mean_absolute_error(yt, pred),
                    mean_squared_error(yt, pred) ** 0.5,
                    fit_s,
                ),
            )
            if on_step:
                on_step(n)
    return out
