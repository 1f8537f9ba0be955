"""``aares popularity``: predict song popularity and read the ``genres`` column (Exercise 2)."""

from __future__ import annotations

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
JOBS = typer.Option(
    1, "--jobs", min=1, help="Threads per model (one is fastest on a busy 2-core machine)."
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
    jobs: int = JOBS,
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
            n_jobs=jobs,
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
        help="Model file to write (skops format with a model card, never a pickle).",
    ),
    model: str = typer.Option(
        "best", "--model", help="Model name (see `aares popularity models`)."
    ),
    seed: int = SEED,
    sample: int = SAMPLE,
    folds: int = typer.Option(
        5, "--folds", min=0, help="CV folds for the card's scores and the intervals (0 = none)."
    ),
    jobs: int = JOBS,
) -> None:
    """Train a popularity model on the whole subset and save it with its model card.

    Cross-validates the same settings first: R2/MAE/RMSE go into the card (shown by `aares
    genre info MODEL`, which reads any aares model's card) and the out-of-fold errors
    calibrate `predict --interval`.
    """
    from aares.popularity.jobs import train_job

    try:
        fitted = train_job(
            data, out, model=model, seed=seed, sample=sample, folds=folds, n_jobs=jobs
        )
    except (DataError, ValueError) as exc:
        _fail(exc)
    card = fitted.card_
    cv = card["cv"]
    scores = f"; {cv['folds']}-fold CV R2 {cv['r2']:.3f}, MAE {cv['mae']:.1f}" if cv else ""
    console.print(
        f"Trained {card['model']['name']} in {card['timing']['fit_seconds']:.1f} s{scores}; "
        f"saved {out} (card: aares genre info {out})", highlight=False,
    )  # fmt: skip


@app.command()
def predict(
    files: list[Path] = typer.Argument(..., help="Files of songs (CSV, Parquet, JSON lines)."),
    model: Path = typer.Option(
        Path("out/popularity/model.skops"),
        "--model",
        help="Model file written by `aares popularity train`.",
    ),
    out: str = typer.Option(
        "-", "--out", help="Output file (.csv, .parquet, .jsonl), or - for CSV on stdout."
    ),
    interval: float = typer.Option(
        None, "--interval", help="Add popularity_low/high, an interval of coverage 1 - EPS."
    ),
    keep_all: bool = typer.Option(
        False, "--keep-all", help="Pass every input column through (default: id/name columns)."
    ),
) -> None:
    """Predict the popularity of the songs of any files with a trained model.

    Any file with the 12 audio-feature columns (any letter case); artist_name (or a Kaggle
    'artists' list), genres, release_date (or year), track_name (or name), explicit and
    time_signature help and are filled with a warning when missing. A 'popularity' column
    is passed through and scored (R2).
    """
    from aares.scoring import predict_job

    try:
        predict_job("popularity", files, model, out, eps=interval, keep_all=keep_all)
    except (DataError, ValueError, OSError) as exc:
        _fail(exc)


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
