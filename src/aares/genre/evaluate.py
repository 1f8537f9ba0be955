"""Cross-validated comparison of genre classifiers, with cached fold predictions.

:func:`cross_val_proba` runs stratified k-fold cross-validation (fixed seed) and returns
out-of-fold class probabilities; :func:`compare_models` does it for several models and
:func:`score_table` / :func:`per_genre_table` turn the predictions into the challenge
metric (F1-micro, which equals accuracy here), F1-macro and per-genre precision/recall.

Each fold's predictions are cached on disk (:func:`aares.cache.memory`, NPZ files keyed by
the model, the data, the folds and the code of the genre models), so re-running a comparison
only fits what changed; the folds still to fit run in ``n_jobs`` processes.

Example
-------
>>> from aares.genre.evaluate import compare_models, score_table      # doctest: +SKIP
>>> runs = compare_models(X, y, ["majority", "extra_trees"])           # doctest: +SKIP
>>> score_table(y, runs)["f1_micro"]                                   # doctest: +SKIP
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from sklearn.metrics import (
    confusion_matrix,
    f1_score,
    log_loss,
    precision_recall_fscore_support,
)
from sklearn.model_selection import StratifiedKFold

from aares.cache import code_version, memory
from aares.genre.models import BALANCED_STRENGTH, BEST_MODEL, ENSEMBLES, make_model
from aares.io import ensure_dir, write_csv
from aares.plotting import save_figure, styled, subplots

__all__ = [
    "CVRun",
    "cross_val_proba",
    "fits_needed",
    "compare_models",
    "score_table",
    "per_genre_table",
    "plot_confusion",
    "Comparison",
    "write_comparison",
]


@dataclass
class CVRun:
    """Out-of-fold results of one model."""

    name: str
    classes: np.ndarray
    proba: np.ndarray  # (n_samples, n_classes) out-of-fold probabilities
    fit_seconds: float  # mean time to fit one fold (as measured when first computed)
    cached: bool = False

    def predict(self) -> np.ndarray:
        return self.classes[np.argmax(self.proba, axis=1)]


def _splits(y: np.ndarray, folds: int, seed: int):
    return list(StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed).split(y, y))


def _fold_proba(name, X, y, folds: int, seed: int, fold: int, code: str, threads=None) -> dict:
    """Fit model ``name`` on fold ``fold``'s training songs; probabilities of its test songs.

    ``code`` (the genre models' :func:`~aares.cache.code_version`) is only part of the cache
    key; ``threads`` (not part of it) caps the model's threads when folds run in parallel.
    """
    model = make_model(name, seed=seed, n_jobs=threads)
    train_idx, test_idx = _splits(y, folds, seed)[fold]
    t0 = time.perf_counter()
    model.fit(X.iloc[train_idx], y[train_idx])
    seconds = time.perf_counter() - t0
    return {
        "proba": model.predict_proba(X.iloc[test_idx]),
        "classes": np.asarray(model.classes_).astype(str),
        "fit_seconds": seconds,
    }


def _fit_folds(names, X, y, folds, seed, cache_dir, on_fold, n_jobs) -> dict[str, CVRun]:
    """Out-of-fold runs of the plain models ``names``: cached folds read, the rest fitted."""
    fold_proba = memory(cache_dir).cache(_fold_proba, ignore=["threads"])
    code = code_version("aares.genre.models", "aares.genre.features", libraries=_LIBRARIES)
    jobs = [(name, k) for name in names for k in range(folds)]
    args = {job: (job[0], X, y, folds, seed, job[1], code) for job in jobs}
    todo = [job for job in jobs if not fold_proba.check_call_in_cache(*args[job])]
    results = {job: fold_proba(*args[job]) for job in jobs if job not in todo}
    for _ in results:
        if on_fold:
            on_fold()
    if todo:
        # one thread per model when the folds share the cores between processes
        threads = 1 if n_jobs != 1 else None
        with Parallel(n_jobs=n_jobs, return_as="generator") as parallel:
            fitted = parallel(delayed(fold_proba)(*args[job], threads=threads) for job in todo)
            for job, out in zip(todo, fitted, strict=True):
                results[job] = out
                if on_fold:
                    on_fold()
    classes = np.unique(y)
    splits = _splits(y, folds, seed)
    runs = {}
    for name in names:
        proba = np.zeros((len(y), len(classes)))
        for k, (_, test_idx) in enumerate(splits):
            out = results[(name, k)]
            cols = np.searchsorted(classes, out["classes"])
            proba[np.ix_(test_idx, cols)] = out["proba"]
        seconds = float(np.mean([results[(name, k)]["fit_seconds"] for k in range(folds)]))
        runs[name] = CVRun(
            name, classes, proba, seconds, all((name, k) not in todo for k in range(folds))
        )
    return runs


#: Libraries whose version is part of the fold cache's key (they fit the models).
_LIBRARIES = ("scikit-learn", "lightgbm")


def cross_val_proba(
    name: str,
    X: pd.DataFrame,
    y: Sequence[str],
    *,
    folds: int = 5,
    seed: int = 0,
    balanced: bool = False,
    cache_dir: str | os.PathLike | None = None,
    on_fold: Callable[[], None] | None = None,
    memo: dict[str, CVRun] | None = None,
    n_jobs: int = 1,
) -> CVRun:
    """Out-of-fold ``predict_proba`` of model ``name`` in stratified ``folds``-fold CV.

    Parameters
    ----------
    name : str
        A model name of :func:`aares.genre.models.make_model`.
    X : DataFrame
        Raw course columns (no ``genre``).
    y : sequence of str
        Genres.
    folds, seed : int
        Stratified folds, shuffled with ``seed`` (the model uses the same seed).
    balanced : bool
        Evaluate the balanced mode of the model.
    cache_dir : path-like, optional
        Folder for cached fold predictions (NPZ); nothing is cached when None.
    on_fold : callable, optional
        Called after each fold (for progress bars).
    memo : dict, optional
        Runs already computed in this session, by name; reused and filled.
    n_jobs : int, default=1
        Processes that fit the folds not in the cache (-1: one per core).

    Notes
    -----
    The balanced mode and the soft-voting ensembles are computed from the plain models'
    out-of-fold probabilities, which is exactly what refitting them per fold would give
    (same folds, same seeds, deterministic members).
    """
    memo = {} if memo is None else memo
    key = f"{name}+balanced" if balanced else name
    if key not in memo:
        memo[key] = _cross_val_proba(
            name, X, y, folds, seed, balanced, cache_dir, on_fold, memo, n_jobs
        )
    return memo[key]


def _cross_val_proba(name, X, y, folds, seed, balanced, cache_dir, on_fold, memo, n_jobs):
    y = np.asarray(y)
    classes = np.unique(y)
    name = BEST_MODEL if name == "best" else name
    shared = dict(
        folds=folds, seed=seed, cache_dir=cache_dir, on_fold=on_fold, memo=memo, n_jobs=n_jobs
    )
    if balanced:
        # PriorCorrected(model) divides the model's fold probabilities by the fold's class
        # shares: reuse the plain model's out-of-fold predictions instead of refitting.
        base = cross_val_proba(name, X, y, **shared)
        proba = base.proba.copy()
        for train_idx, test_idx in _splits(y, folds, seed):
            prior = np.array([np.mean(y[train_idx] == c) for c in classes])
            part = proba[test_idx] / prior**BALANCED_STRENGTH
            proba[test_idx] = part / part.sum(axis=1, keepdims=True)
        return CVRun(f"{name}+balanced", classes, proba, base.fit_seconds, base.cached)
    if name in ENSEMBLES:
        # soft voting of deterministic members = weighted mean of their fold predictions
        members = [(cross_val_proba(m, X, y, **shared), w) for m, w in ENSEMBLES[name]]
        total = sum(w for _, w in members)
        proba = sum(w * run.proba for run, w in members) / total
        seconds = sum(run.fit_seconds for run, _ in members)
        return CVRun(name, classes, proba, seconds, all(run.cached for run, _ in members))
    return _fit_folds([name], X, y, folds, seed, cache_dir, on_fold, n_jobs)[name]


def fits_needed(names: Sequence[str], balanced: Sequence[str] = ()) -> list[str]:
    """The plain models whose folds must be fitted to evaluate ``names`` and ``balanced``."""
    out: list[str] = []
    for name in [*names, *balanced]:
        name = BEST_MODEL if name == "best" else name
        for base in [m for m, _ in ENSEMBLES[name]] if name in ENSEMBLES else [name]:
            if base not in out:
                out.append(base)
    return out


def compare_models(
    X: pd.DataFrame,
    y: Sequence[str],
    names: Sequence[str],
    *,
    folds: int = 5,
    seed: int = 0,
    balanced: Sequence[str] = (),
    cache_dir: str | os.PathLike | None = None,
    on_fold: Callable[[], None] | None = None,
    n_jobs: int = 1,
) -> list[CVRun]:
    """Cross-validate each model of ``names`` (and the balanced mode of ``balanced``).

    The folds of every plain model needed are fitted first, all in one pool of ``n_jobs``
    processes; ensembles and balanced modes are then computed from their predictions.
    """
    y = np.asarray(y)
    memo = _fit_folds(fits_needed(names, balanced), X, y, folds, seed, cache_dir, on_fold, n_jobs)
    shared = dict(
        folds=folds, seed=seed, cache_dir=cache_dir, on_fold=on_fold, memo=memo, n_jobs=n_jobs
    )
    runs = [cross_val_proba(n, X, y, **shared) for n in names]
    runs += [cross_val_proba(n, X, y, balanced=True, **shared) for n in balanced]
    return runs


def score_table(y: Sequence[str], runs: Sequence[CVRun]) -> pd.DataFrame:
    """F1-micro (the challenge metric), F1-macro, log loss and mean fit time per model.

    The log loss scores the probabilities themselves (lower is better): it chose the
    ensemble's weights, and conformal prediction sets are smaller when it is low.
    """
    y = np.asarray(y)
    rows = []
    for run in runs:
        pred = run.predict()
        # probabilities clipped away from 0 so a model sure of a wrong genre scores a finite loss
        proba = np.clip(run.proba, 1e-6, 1.0)
        rows.append(
            {
                "model": run.name,
                "f1_micro": f1_score(y, pred, average="micro"),
                "f1_macro": f1_score(y, pred, average="macro", zero_division=0),
                "log_loss": log_loss(
                    y, proba / proba.sum(axis=1, keepdims=True), labels=run.classes
                ),
                "fit_s": run.fit_seconds,
            }
        )
    return pd.DataFrame(rows).set_index("model")


def per_genre_table(y: Sequence[str], run: CVRun) -> pd.DataFrame:
    """Precision, recall, F1 and support of each genre for one model."""
    p, r, f, s = precision_recall_fscore_support(
        np.asarray(y), run.predict(), labels=run.classes, zero_division=0
    )
    frame = pd.DataFrame(
        {"precision": p, "recall": r, "f1": f, "support": s}, index=pd.Index(run.classes)
    )
    frame.index.name = "genre"
    return frame.sort_values("support", ascending=False)


@styled
def plot_confusion(y: Sequence[str], run: CVRun, path: str | os.PathLike) -> Path:
    """Row-normalised confusion matrix (share of each true genre) as a PNG."""
    y = np.asarray(y)
    order = pd.Series(y).value_counts().index.to_numpy()
    cm = confusion_matrix(y, run.predict(), labels=order).astype(float)
    cm /= cm.sum(axis=1, keepdims=True).clip(min=1)
    fig, ax = subplots(figsize=(10, 8.5))
    im = ax.imshow(cm, cmap="Blues", vmin=0, vmax=1)
    ax.grid(False)
    ax.set_xticks(range(len(order)), order, rotation=90)
    ax.set_yticks(range(len(order)), order)
    ax.set_xlabel("predicted genre")
    ax.set_ylabel("true genre")
    for i in range(len(order)):
        for j in range(len(order)):
            if cm[i, j] >= 0.05:
                color = "white" if cm[i, j] > 0.5 else "black"
                ax.text(j, i, f"{cm[i, j]:.2f}", ha="center", va="center", fontsize=6, color=color)
    acc = float(np.mean(run.predict() == y))
    ax.set_title(f"{run.name}: out-of-fold confusion (rows sum to 1), F1-micro {acc:.3f}")
    fig.colorbar(im, ax=ax, shrink=0.8)
    return save_figure(fig, path)


@dataclass
class Comparison:
    """What :func:`write_comparison` computed and where it wrote it."""

    runs: list[CVRun]
    scores: pd.DataFrame  # score_table of every run
    best: CVRun  # the plain model with the highest F1-micro
    per_genre: pd.DataFrame  # per_genre_table of ``best``
    confusion: Path  # confusion-matrix figure of ``best``


def write_comparison(
    X: pd.DataFrame,
    y: Sequence[str],
    names: Sequence[str],
    out_dir: str | os.PathLike,
    *,
    folds: int = 5,
    seed: int = 0,
    balanced: Sequence[str] = (),
    cache_dir: str | os.PathLike | None = None,
    on_fold: Callable[[], None] | None = None,
    n_jobs: int = 1,
) -> Comparison:
    """Cross-validate ``names`` and write ``scores.csv``, per-genre CSVs and a confusion figure.

    ``scores.csv`` holds F1-micro, F1-macro, log loss and fit time per model;
    ``per_genre_NAME.csv`` the precision/recall of each genre for every model; and
    ``confusion_BEST.png`` the out-of-fold confusion matrix of the plain model with the
    best F1-micro. Used by ``aares genre compare`` and by the main job's genre step.
    """
    y = np.asarray(y)
    runs = compare_models(
        X, y, names, folds=folds, seed=seed, balanced=balanced, cache_dir=cache_dir,
        on_fold=on_fold, n_jobs=n_jobs,
    )  # fmt: skip
    out = ensure_dir(out_dir)
    scores = score_table(y, runs)
    write_csv(out / "scores.csv", scores)
    per_genre = {run.name: per_genre_table(y, run) for run in runs}
    for name, table in per_genre.items():
        write_csv(out / f"per_genre_{name.replace('+', '_')}.csv", table)
    best = max((r for r in runs if "+" not in r.name), key=lambda r: np.mean(r.predict() == y))
    figure = plot_confusion(y, best, out / f"confusion_{best.name}.png")
    return Comparison(runs, scores, best, per_genre[best.name], figure)
