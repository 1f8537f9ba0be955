"""Cross-validated comparison of genre classifiers, with cached fold predictions.

:func:`cross_val_proba` runs stratified k-fold cross-validation (fixed seed) and returns
out-of-fold class probabilities; :func:`compare_models` does it for several models and
:func:`score_table` / :func:`per_genre_table` turn the predictions into the challenge
metric (F1-micro, which equals accuracy here), F1-macro and per-genre precision/recall.

Out-of-fold predictions are cached as NPZ files keyed by the model's parameters, the data
and the folds, so re-running a comparison only fits what changed.

Example
-------
>>> from aares.genre.evaluate import compare_models, score_table      # doctest: +SKIP
>>> runs = compare_models(X, y, ["majority", "extra_trees"])           # doctest: +SKIP
>>> score_table(y, runs)["f1_micro"]                                   # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import (
    confusion_matrix,
    f1_score,
    log_loss,
    precision_recall_fscore_support,
)
from sklearn.model_selection import StratifiedKFold

from aares.genre.models import BALANCED_STRENGTH, BEST_MODEL, ENSEMBLES, make_model
from aares.io import atomic_path, ensure_dir, write_csv
from aares.plotting import plt, save_figure

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


def _params_text(model) -> str:
    # every plain parameter of every step (estimator reprs are abbreviated, values are not)
    simple = (int, float, str, bool, type(None), tuple)
    params = model.get_params(deep=True)
    return repr(sorted((k, v) for k, v in params.items() if isinstance(v, simple)))


def _cache_key(name: str, params: str, X: pd.DataFrame, y: np.ndarray, folds: int, seed: int):
    h = hashlib.sha256()
    h.update(pd.util.hash_pandas_object(X, index=False).to_numpy().tobytes())
    h.update("\0".join(map(str, y)).encode())
    h.update(f"{name}|{params}|{folds}|{seed}".encode())
    return h.hexdigest()[:16]


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
        Folder for cached out-of-fold predictions (NPZ); nothing is cached when None.
    on_fold : callable, optional
        Called after each fold (for progress bars).
    memo : dict, optional
        Runs already computed in this session, by name; reused and filled.

    Notes
    -----
    The balanced mode and the soft-voting ensembles are computed from the plain models'
    out-of-fold probabilities, which is exactly what refitting them per fold would give
    (same folds, same seeds, deterministic members).
    """
    memo = {} if memo is None else memo
    key = f"{name}+balanced" if balanced else name
    if key not in memo:
        memo[key] = _cross_val_proba(name, X, y, folds, seed, balanced, cache_dir, on_fold, memo)
    return memo[key]


def _cross_val_proba(name, X, y, folds, seed, balanced, cache_dir, on_fold, memo) -> CVRun:
    y = np.asarray(y)
    classes = np.unique(y)
    name = BEST_MODEL if name == "best" else name
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    shared = dict(folds=folds, seed=seed, cache_dir=cache_dir, on_fold=on_fold, memo=memo)
    if balanced:
        # PriorCorrected(model) divides the model's fold probabilities by the fold's class
        # shares: reuse the plain model's out-of-fold predictions instead of refitting.
        base = cross_val_proba(name, X, y, **shared)
        proba = base.proba.copy()
        for train_idx, test_idx in splitter.split(X, y):
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
    label = name
    params = _params_text(make_model(name, seed=seed))
    cache = None
    if cache_dir is not None:
        key = _cache_key(label, params, X, y, folds, seed)
        cache = Path(cache_dir) / f"{label}-{key}.npz"
        if cache.is_file():
            stored = np.load(cache, allow_pickle=False)
            if on_fold:
                for _ in range(folds):
                    on_fold()
            return CVRun(label, classes, stored["proba"], float(stored["fit_seconds"]), True)
    proba = np.zeros((len(y), len(classes)))
    times = []
    for train_idx, test_idx in splitter.split(X, y):
        model = make_model(name, seed=seed)
        t0 = time.perf_counter()
        model.fit(X.iloc[train_idx], y[train_idx])
        times.append(time.perf_counter() - t0)
        cols = np.searchsorted(classes, model.classes_)
        proba[np.ix_(test_idx, cols)] = model.predict_proba(X.iloc[test_idx])
        if on_fold:
            on_fold()
    run = CVRun(label, classes, proba, float(np.mean(times)))
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(cache) as tmp:
            with open(tmp, "wb") as fh:
                np.savez(fh, proba=proba, fit_seconds=run.fit_seconds)
    return run


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
) -> list[CVRun]:
    """Cross-validate each model of ``names`` (and the balanced mode of ``balanced``)."""
    memo: dict[str, CVRun] = {}
    shared = dict(folds=folds, seed=seed, cache_dir=cache_dir, on_fold=on_fold, memo=memo)
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


def plot_confusion(y: Sequence[str], run: CVRun, path: str | os.PathLike) -> Path:
    """Row-normalised confusion matrix (share of each true genre) as a PNG."""
    y = np.asarray(y)
    order = pd.Series(y).value_counts().index.to_numpy()
    cm = confusion_matrix(y, run.predict(), labels=order).astype(float)
    cm /= cm.sum(axis=1, keepdims=True).clip(min=1)
    fig, ax = plt.subplots(figsize=(10, 8.5))
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
        on_fold=on_fold,
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
