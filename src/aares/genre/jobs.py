"""Genre jobs: the steps that read the data folder and write the outputs of Exercise 1.

The ``aares genre`` commands and ``aares run-all`` call these; the models, the evaluation
and the challenge files are in the library modules (:mod:`aares.genre.models`,
:mod:`aares.genre.evaluate`, :mod:`aares.genre.challenge`).
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from aares.console import console, print_frame, progress
from aares.data import TRAIN_FILE, data_file, load_train
from aares.io import check_writable, ensure_dir, write_json

__all__ = [
    "N_JOBS", "RUN_ALL_COMPARE", "load_train_sample", "run_all_step", "run_compare", "train_job",
]  # fmt: skip

#: Processes that fit cross-validation folds (the course machines and CI have 2 cores).
N_JOBS = 2


def run_compare(
    train: pd.DataFrame, names, out: Path, *, folds: int, seed: int, balanced, cache,
    n_jobs: int = N_JOBS,
):  # fmt: skip
    """Cross-validate ``names`` with a progress bar, write the results, print the scores.

    The folds not in ``cache`` are fitted in ``n_jobs`` processes.
    """
    from aares.genre.evaluate import fits_needed, write_comparison

    X, y = train.drop(columns="genre"), train["genre"].to_numpy()
    with progress() as bar:
        total = folds * len(fits_needed(names, balanced))
        task = bar.add_task("cross-validating (model folds)", total=total)
        result = write_comparison(
            X, y, names, out, folds=folds, seed=seed, balanced=balanced, cache_dir=cache,
            on_fold=lambda: bar.advance(task), n_jobs=n_jobs,
        )  # fmt: skip
    print_frame(result.scores, title=f"{folds}-fold CV on {len(y):,} songs (seed {seed})")
    return result


def load_train_sample(data: Path, sample: int = 0, seed: int = 0) -> pd.DataFrame:
    """The training file, or a stratified sample of ``sample`` songs of it (0 = all)."""
    train = load_train(data_file(TRAIN_FILE, data))
    if sample and sample < len(train):
        from sklearn.model_selection import train_test_split

        train, _ = train_test_split(
            train, train_size=sample, stratify=train["genre"], random_state=seed
        )
        train = train.reset_index(drop=True)
    return train


#: Models the main job cross-validates for the report (`aares genre compare` runs them all):
#: the baseline and the best model with its members (whose folds the model's card reuses).
RUN_ALL_COMPARE = ["majority", "lightgbm", "extra_trees", "mlp", "ensemble"]


def run_all_step(data_dir: Path, out_dir: Path) -> None:
    """Main-job step: key figures, train the best model, write the challenge files, then
    cross-validate a few models (scores, per-genre tables, confusion matrix) for the report."""
    from aares.genre.challenge import predict_challenge
    from aares.genre.describe import write_description
    from aares.genre.models import BEST_MODEL

    out = ensure_dir(Path(out_dir) / "genre")
    summary = write_description(data_dir, out / "describe")
    console.print(summary.text())
    trainset = load_train(data_file(TRAIN_FILE, data_dir))
    # trained with its card; its CV folds are the ones the comparison below reuses
    model = train_job(data_dir, out / "model.skops", cache=out / "cv-cache", train=trainset)
    fit_s = model.card_["timing"]["fit_seconds"]
    challenge, genre_only, genres = predict_challenge(model, data_dir, out)
    info = {
        "model": BEST_MODEL,
        "fit_seconds": round(fit_s, 2),
        "predicted": int(len(genres)),
        "predicted_counts": {str(k): int(v) for k, v in pd.Series(genres).value_counts().items()},
    }
    write_json(out / "model.json", info)
    console.print(json.dumps(info["predicted_counts"]))
    console.print(f"Trained {BEST_MODEL} in {fit_s:.1f} s; wrote {challenge} and {genre_only}")

    run_compare(
        trainset, RUN_ALL_COMPARE, out / "compare", folds=5, seed=0, balanced=[BEST_MODEL],
        cache=out / "cv-cache",
    )  # fmt: skip


def train_job(
    data: Path,
    out: Path,
    *,
    model: str = "best",
    balanced: bool = False,
    seed: int = 0,
    folds: int = 5,
    cache: Path | None = None,
    train: pd.DataFrame | None = None,
    n_jobs: int = N_JOBS,
):
    """Train a :class:`~aares.genre.model.GenreModel` on the training file of ``data``
    (cross-validation with a progress bar, in ``n_jobs`` processes while this one fits the
    final model) and save it with its card."""
    from aares.genre.evaluate import fits_needed
    from aares.genre.model import GenreModel
    from aares.genre.models import BEST_MODEL

    check_writable(out)  # before minutes of training, not after
    path = data_file(TRAIN_FILE, data)
    train = load_train(path) if train is None else train
    est = GenreModel(
        model, seed=seed, balanced=balanced, folds=folds, cache_dir=cache, n_jobs=n_jobs
    )
    name = BEST_MODEL if model == "best" else model
    X, y = train.drop(columns="genre"), train["genre"].to_numpy()
    with progress() as bar:
        total = folds * len(fits_needed([name])) + 1
        task = bar.add_task(f"{name}: {folds}-fold CV, then all {len(y):,} songs", total=total)
        est.fit(X, y, source=path, on_fold=lambda: bar.advance(task))
        bar.advance(task)
    est.save(out)
    return est
