"""Genre classification benchmark: the full 5-fold comparison table, and train + predict time.

Run with ``python -m benchmarks genre --data DIR``. Out-of-fold predictions are cached in
``$AARES_GENRE_CACHE`` (default ``/tmp/aares-genre-cv``) so a re-run only fits what changed.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np

from aares.data import TRAIN_FILE, data_file, load_train
from aares.genre.challenge import predict_challenge, train_model
from aares.genre.evaluate import compare_models, per_genre_table, score_table
from aares.genre.models import BEST_MODEL, MODEL_NAMES
from benchmarks._common import stamp, write_section

FOLDS = 5
SEED = 0


def main(data_dir: Path) -> None:
    cache = Path(os.environ.get("AARES_GENRE_CACHE", "/tmp/aares-genre-cv"))
    train = load_train(data_file(TRAIN_FILE, data_dir))
    X, y = train.drop(columns="genre"), train["genre"].to_numpy()
    done = [0]

    def on_fold() -> None:
        done[0] += 1
        print(f"  model folds done: {done[0]}", flush=True)

    runs = compare_models(
        X, y, MODEL_NAMES, folds=FOLDS, seed=SEED, balanced=[BEST_MODEL], cache_dir=cache,
        on_fold=on_fold,
    )  # fmt: skip
    table = score_table(y, runs)
    best = next(r for r in runs if r.name == BEST_MODEL)
    per_genre = per_genre_table(y, best)

    # train + predict the challenge, timed, as `aares genre train` + `predict` do
    t0 = time.perf_counter()
    model = train_model(data_dir, "best", seed=SEED, train=train)
    fit_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    out = Path(os.environ.get("TMPDIR", "/tmp")) / "aares-genre-bench"
    _, _, genres = predict_challenge(model, data_dir, out)
    predict_s = time.perf_counter() - t0

    lines = [
        "## genre: Exercise 1 classifiers (stratified 5-fold CV, seed 0)",
        "",
        stamp(),
        "",
        "Reproduce: `python -m benchmarks genre --data DATA` (or `aares genre compare --data "
        "DATA` for the same table). F1-micro is the challenge metric (= accuracy). Fit time is "
        "the mean per fold (on 80% of the songs), measured when the fold predictions were "
        "first computed; the machine is shared, so compare ratios. `+balanced` is the balanced "
        "mode (probabilities divided by class share^0.5). All models except `majority` and "
        "`extra_trees_no_date_genres` use the cross-fitted genre profile of each release date.",
        "",
        "| model | F1-micro | F1-macro | fit s/fold |",
        "|---|---:|---:|---:|",
    ]
    for name, row in table.iterrows():
        lines.append(f"| {name} | {row.f1_micro:.4f} | {row.f1_macro:.4f} | {row.fit_s:.1f} |")
    lines += [
        "",
        f"Best model `{BEST_MODEL}`, per genre (out-of-fold):",
        "",
        "| genre | precision | recall | F1 | songs |",
        "|---|---:|---:|---:|---:|",
    ]
    for genre, row in per_genre.iterrows():
        lines.append(
            f"| {genre} | {row.precision:.3f} | {row.recall:.3f} | {row.f1:.3f} | "
            f"{int(row.support)} |"
        )
    lines += [
        "",
        f"Train `{BEST_MODEL}` on all {len(y):,} songs: {fit_s:.1f} s; predict the "
        f"{len(genres):,} challenge songs and write the files: {predict_s:.1f} s "
        f"(target: under 300 s together). Predicted genres: {len(np.unique(genres))} distinct, "
        "all seen in training.",
    ]
    write_section("genre", "\n".join(lines))
    print(table.to_string(float_format=lambda v: f"{v:.4f}"))
    print(f"train {fit_s:.1f} s, predict {predict_s:.1f} s")
