"""``aares popularity``: predict song popularity and read the ``genres`` column (Exercise 2)."""

from __future__ import annotations

import time
from pathlib import Path

import typer

from aares.console import console, print_frame
from aares.errors import DataError

app = typer.Typer(
    help="Popularity prediction and the micro-genres of the Exercise 2 subset: "
    "compare models in cross-validation, train, predict, and map micro-genres onto "
    "the 22 Exercise 1 genres.",
    no_args_is_help=True,
)

DATA = typer.Option(
    Path("data"),
    "--data",
    envvar="AARES_DATA",
    help="Data folder holding spotify_dataset_subset.csv.",
)
OUT = typer.Option(Path("out/popularity"), "--out", help="Folder for tables, figures, models.")
SEED = typer.Option(0, "--seed", help="Seed of the folds, the models and the encoders.")
FOLDS = typer.Option(5, "--folds", min=2, help="Folds of the cross-validation.")
SAMPLE = typer.Option(
    0, "--sample", min=0, help="Use a random sample of this many songs (0 = all); for quick looks."
)


def _fail(exc: Exception) -> None:
    console.print(f"[red]error:[/] {exc}")
    raise typer.Exit(1)


def _names(models: str) -> list[str]:
    from aares.popularity.models import MODEL_NAMES

    names = [m.strip() for m in models.split(",") if m.strip()]
    unknown = [m for m in names if m not in MODEL_NAMES]
    if unknown:
        raise ValueError(f"unknown model(s) {unknown}; choose from {MODEL_NAMES}")
    return names


@app.command()
def compare(
    data: Path = DATA,
    out: Path = OUT,
    models: str = typer.Option(
        "mean,ridge,random_forest,hist_gb,lightgbm_audio,lightgbm,hurdle",
        "--models",
        help="Comma-separated models (see `aares popularity models`).",
    ),
    folds: int = FOLDS,
    seed: int = SEED,
    by_artist: bool = typer.Option(
        True,
        "--by-artist/--no-by-artist",
        help="Also cross-validate with GroupKFold by artist (column r2_new_artists).",
    ),
    importance: bool = typer.Option(
        True,
        "--importance/--no-importance",
        help="Permutation importance figure of the best model.",
    ),
    sample: int = SAMPLE,
) -> None:
    """Cross-validate popularity models (R2, MAE, RMSE, fit time) and draw the figures.

    Headline: shuffled KFold (an artist's songs can be in training and test, as in the
    course). Column r2_new_artists: GroupKFold by artist (test artists never seen).
    Writes cv_results.csv, cv_predictions.csv, predicted_vs_true.png,
    residuals_by_popularity.png and permutation_importance.png under --out.
    """
    from aares.popularity.jobs import load_songs, run_compare

    try:
        frame = load_songs(data, sample, seed)
        table = run_compare(
            frame,
            out,
            _names(models),
            folds=folds,
            seed=seed,
            by_artist=by_artist,
            importance=importance,
        )
    except (DataError, ValueError) as exc:
        _fail(exc)
    print_frame(table, title=f"Popularity, {folds}-fold CV ({len(frame)} songs)")
    console.print(f"Tables and figures in {out}/")


@app.command()
def train(
    data: Path = DATA,
    out: Path = typer.Option(
        Path("out/popularity/model.skops"),
        "--out",
        help="Model file to write (skops format, never a pickle).",
    ),
    model: str = typer.Option(
        "best", "--model", help="Model name (see `aares popularity models`)."
    ),
    seed: int = SEED,
    sample: int = SAMPLE,
) -> None:
    """Train a popularity model on the whole subset and save it (skops format)."""
    from aares.popularity.jobs import load_songs
    from aares.popularity.models import BEST_MODEL, make_model
    from aares.popularity.persist import save_model

    model = BEST_MODEL if model == "best" else model
    try:
        frame = load_songs(data, sample, seed)
        estimator = make_model(model, seed=seed)
        t0 = time.perf_counter()
        with console.status(f"training {model} on {len(frame)} songs"):
            estimator.fit(frame, frame["popularity"])
        save_model(estimator, out)
    except (DataError, ValueError) as exc:
        _fail(exc)
    console.print(f"Trained {model} in {time.perf_counter() - t0:.1f} s; saved {out}")


@app.command()
def predict(
    csv: Path = typer.Argument(..., help="CSV with the subset's columns (popularity optional)."),
    model: Path = typer.Option(
        Path("out/popularity/model.skops"),
        "--model",
        help="Model file written by `aares popularity train`.",
    ),
    out: Path = typer.Option(
        Path("out/popularity/predictions.csv"),
        "--out",
        help="CSV to write: id, predicted popularity (and true if known).",
    ),
) -> None:
    """Predict the popularity of the songs of a CSV file with a trained model."""
    import numpy as np
    import pandas as pd

    from aares.data import SUBSET_SCHEMA, read_table
    from aares.io import write_csv
    from aares.popularity.persist import load_model

    try:
        estimator = load_model(model)
        has_target = "popularity" in pd.read_csv(csv, nrows=0).columns
        schema = [c for c in SUBSET_SCHEMA if has_target or c.name != "popularity"]
        frame = read_table(csv, schema)
        pred = np.clip(estimator.predict(frame), 0, 100)
    except (DataError, ValueError, OSError) as exc:
        _fail(exc)
    result = pd.DataFrame({"id": frame["id"], "popularity_predicted": np.round(pred, 2)})
    if has_target:
        from sklearn.metrics import r2_score

        result["popularity"] = frame["popularity"]
        console.print(f"R2 on this file: {r2_score(frame['popularity'], pred):.3f}")
    write_csv(out, result, index=False)
    console.print(f"Predicted {len(result)} songs; wrote {out}")


@app.command()
def genres(
    data: Path = DATA,
    out: Path = OUT,
    classifier: str = typer.Option(
        "lightgbm",
        "--classifier",
        help="Exercise 1 genre model (aares.genre) trained on the training file and applied "
        "to the subset songs, for the mapping; 'none' maps by words only.",
    ),
    genre_model: Path | None = typer.Option(
        None, "--genre-model", help="A saved Exercise 1 genre model (skops) to use instead."
    ),
    encodings: bool = typer.Option(
        True,
        "--encodings/--no-encodings",
        help="Compare genre encodings by what each adds to the popularity model (slow).",
    ),
    folds: int = FOLDS,
    seed: int = SEED,
) -> None:
    """Read the genres column and map micro-genres onto the 22 Exercise 1 genres.

    Songs without genre, frequent micro-genres, co-occurrence, genre encodings compared.
    Writes genre_summary.json, top_genres.csv, genre_cooccurrence.png, genre_encodings.csv,
    genre_mapping.csv (one row per micro-genre) and subset_genres.csv (one Exercise 1
    genre per song) under --out.
    """
    from aares.popularity.jobs import load_songs, run_genres

    try:
        frame = load_songs(data)
        run_genres(
            frame,
            out,
            data=data,
            classifier=classifier,
            genre_model=genre_model,
            encodings=encodings,
            folds=folds,
            seed=seed,
        )
    except (DataError, ValueError) as exc:
        _fail(exc)


@app.command("models")
def list_models() -> None:
    """List the popularity models and the default one."""
    from aares.popularity.models import BEST_MODEL, MODEL_NAMES

    for name in MODEL_NAMES:
        console.print(f"{name}{'  (default: best 5-fold CV R2)' if name == BEST_MODEL else ''}")
