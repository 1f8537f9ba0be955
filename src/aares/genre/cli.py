"""`aares genre ...`: analyse the data, compare classifiers, train, predict the challenge."""

from __future__ import annotations

from pathlib import Path

import typer

from aares.console import console, print_frame
from aares.errors import DataError

app = typer.Typer(
    help="Genre classification (Exercise 1): describe the data, compare models, train, "
    "predict the challenge file. Only genres present in the training file are predicted "
    "(the handout's 'trap' never occurs in it).",
    no_args_is_help=True,
)

DATA = typer.Option(Path("data"), "--data", envvar="AARES_DATA", help="Folder of the course files.")
SEED = typer.Option(0, "--seed", help="Random seed (folds and models).")
JOBS = typer.Option(
    2, "--jobs", min=1, help="Processes fitting the cross-validation folds (1 = this one)."
)


def _fail(exc: Exception) -> None:
    console.print(f"[red]error:[/] {exc}")
    raise typer.Exit(1)


def _model_names(models: str) -> list[str]:
    from aares.genre.models import MODEL_NAMES

    names = MODEL_NAMES if models == "all" else [m.strip() for m in models.split(",")]
    names = [m for m in names if m]
    if not names:
        raise ValueError(f"--models {models!r} names no model; choose from {MODEL_NAMES}")
    unknown = [m for m in names if m not in MODEL_NAMES]
    if unknown:
        raise ValueError(f"unknown model(s) {unknown}; choose from {MODEL_NAMES}")
    return names


DESCRIBE_HELP = (
    "Analyse the training data (figures and a short summary)."
    "\n\n"
    "Class balance, feature distributions by genre, correlations, duplicates within "
    "training and between training and challenge, and the best accuracy that "
    "identical feature vectors allow. Writes PNG figures, summary.txt and "
    "summary.json."
)


@app.command(help=DESCRIBE_HELP)
def describe(
    data: Path = DATA,
    out: Path = typer.Option(Path("out/genre/describe"), "--out", help="Folder for figures."),
) -> None:
    """Analyse the training data (figures and a short summary)."""
    from aares.genre.describe import write_description

    try:
        summary = write_description(data, out)
    except (DataError, ValueError) as exc:
        _fail(exc)
    console.print(summary.text())
    for fig in summary.figures:
        console.print(f"figure: {fig}")


COMPARE_HELP = (
    "Compare classifiers by stratified k-fold cross-validation (fixed seed)."
    "\n\n"
    "Reports F1-micro (the challenge metric), F1-macro and fit time per model, "
    "per-genre precision/recall (CSV) and a confusion-matrix figure of the best "
    "model. Fold predictions are cached, so a re-run only fits models whose settings "
    "changed."
)


@app.command(help=COMPARE_HELP)
def compare(
    data: Path = DATA,
    out: Path = typer.Option(Path("out/genre/compare"), "--out", help="Folder for results."),
    models: str = typer.Option(
        "all", "--models", help="Comma-separated model names, or 'all' (see `aares genre models`)."
    ),
    folds: int = typer.Option(5, "--folds", min=2, help="Stratified cross-validation folds."),
    seed: int = SEED,
    balanced: bool = typer.Option(
        True, "--balanced/--no-balanced", help="Also evaluate the balanced mode of the best model."
    ),
    sample: int = typer.Option(
        0, "--sample", min=0, help="Use a stratified sample of this many songs (0 = all)."
    ),
    cache: Path = typer.Option(
        Path("out/genre/cv-cache"),
        "--cache",
        help="Folder caching out-of-fold predictions, so re-runs only fit what changed.",
    ),
    jobs: int = JOBS,
) -> None:
    """Compare classifiers by stratified k-fold cross-validation (fixed seed)."""
    from aares.genre.jobs import load_train_sample, run_compare
    from aares.genre.models import BEST_MODEL

    try:
        names = _model_names(models)
        train = load_train_sample(data, sample, seed)
        extra = [BEST_MODEL] if balanced else []
        result = run_compare(
            train, names, out, folds=folds, seed=seed, balanced=extra, cache=cache, n_jobs=jobs
        )
    except (DataError, ValueError) as exc:
        _fail(exc)
    print_frame(result.per_genre, title=f"Per-genre results of {result.best.name}")
    console.print(f"Wrote {out / 'scores.csv'}, per-genre tables and {result.confusion}")


TRAIN_HELP = (
    "Train a model on the whole training file and save it with its model card (skops "
    "format, no pickle)."
    "\n\n"
    "'best' is the soft-voting ensemble of LightGBM (0.6), extra trees (0.2) and an MLP "
    "(0.2): the top F1-micro in 5-fold CV; `aares genre models` lists the others. "
    "--balanced divides the probabilities by the class share to the power 0.5, so rare "
    "genres are predicted more often (higher F1-macro at about the same F1-micro). "
    "Cross-validates the same settings first (--folds; cached, shared with `compare`): the "
    "scores go into the model card and the out-of-fold probabilities calibrate the "
    "prediction sets of `predict --sets`. `aares genre info MODEL` shows the card."
)


@app.command(help=TRAIN_HELP)
def train(
    data: Path = DATA,
    model: str = typer.Option("best", "--model", help="Model name, or 'best'."),
    balanced: bool = typer.Option(
        False, "--balanced", help="Correct probabilities for class frequency (higher F1-macro)."
    ),
    seed: int = SEED,
    folds: int = typer.Option(
        5, "--folds", min=0, help="CV folds for the card's scores and the sets (0 = none)."
    ),
    cache: Path = typer.Option(
        Path("out/genre/cv-cache"), "--cache", help="Cache of the CV folds (shared with compare)."
    ),
    out: Path = typer.Option(
        Path("out/genre/model.skops"), "--out", help="Model file to write (skops format)."
    ),
    jobs: int = JOBS,
) -> None:
    """Train a model on the whole training file and save it with its model card."""
    from aares.genre.jobs import train_job

    try:
        fitted = train_job(data, out, model=model, balanced=balanced, seed=seed, folds=folds,
                           cache=cache, n_jobs=jobs)  # fmt: skip
    except (DataError, ValueError) as exc:
        _fail(exc)
    card = fitted.card_
    cv = card["cv"]
    scores = (
        f"; {cv['folds']}-fold CV F1-micro {cv['f1_micro']:.3f}, F1-macro {cv['f1_macro']:.3f}"
        if cv
        else ""
    )
    console.print(
        f"Trained {card['model']['name']} in {card['timing']['fit_seconds']:.1f} s{scores}; "
        f"saved {out} (card: aares genre info {out})", highlight=False,
    )  # fmt: skip


PREDICT_HELP = (
    "Predict the genres of any songs: CSV, Parquet or JSON-lines files, or the challenge file."
    "\n\n"
    "With FILE(s): any file with the 12 Spotify audio-feature columns (any letter case; "
    "release_date or year, popularity, explicit and time_signature help and are filled with "
    "a warning when missing). Writes the files' id/name columns (every column with "
    "--keep-all), genre, probability, the next genres of --top with theirs and, with --sets "
    "EPS, the conformal prediction set that holds the true genre with probability 1 - EPS. "
    "--out FILE picks CSV, Parquet or JSON lines by extension; '-' (the default) writes CSV "
    "to stdout. Warns when a file's feature distributions differ strongly from the "
    "training songs (population stability index per feature)."
    "\n\n"
    "Without FILE: predicts the challenge file of --data and writes spotify_dataset_test.csv "
    "(the challenge file with a new last column 'genre', rows in the original order) and "
    "the one-column genre.csv to --out (a folder, default out/genre)."
)


@app.command(help=PREDICT_HELP)
def predict(
    files: list[Path] = typer.Argument(None, help="Files of songs (CSV, Parquet, JSON lines)."),
    data: Path = DATA,
    model: Path = typer.Option(Path("out/genre/model.skops"), "--model", help="Model file."),
    out: str = typer.Option(
        None, "--out", help="With FILEs: output file or - for stdout (default). Without: folder."
    ),
    top: int = typer.Option(3, "--top", min=1, help="Genres listed per song, with probabilities."),
    sets: float = typer.Option(
        None, "--sets", help="Add the prediction set at coverage 1 - EPS (e.g. 0.1)."
    ),
    keep_all: bool = typer.Option(
        False, "--keep-all", help="Pass every input column through (default: id/name columns)."
    ),
) -> None:
    """Predict the genres of any songs, or of the challenge file."""
    try:
        if files:
            from aares.scoring import predict_job

            predict_job("genre", files, model, out or "-", top=top, eps=sets, keep_all=keep_all)
            return
        import pandas as pd

        from aares.genre import load_model
        from aares.genre.challenge import predict_challenge

        fitted = load_model(model)
        challenge, genre_only, genres = predict_challenge(fitted, data, Path(out or "out/genre"))
    except (DataError, ValueError) as exc:
        _fail(exc)
    counts = pd.Series(genres).value_counts()
    console.print(
        f"Predicted {len(genres):,} songs; most frequent: "
        + ", ".join(f"{g} {n}" for g, n in counts.head(5).items())
    )
    console.print(f"Wrote {challenge} and {genre_only}")


@app.command("info")
def info(
    model: Path = typer.Argument(..., help="A model file written by aares."),
    as_json: bool = typer.Option(False, "--json", help="Print the whole card as JSON (stdout)."),
) -> None:
    """Show a model's card: version, training file, genres, inputs, CV scores, sets, timing.

    Reads the card of any aares model file (genre or popularity) without loading the model.
    """
    from aares.scoring import show_card

    try:
        show_card(model, as_json)
    except ValueError as exc:
        _fail(exc)


@app.command("models")
def list_models() -> None:
    """List the model names `compare` and `train` accept."""
    from aares.genre.models import BEST_MODEL, MODEL_NAMES

    for name in MODEL_NAMES:
        console.print(name + ("  (best)" if name == BEST_MODEL else ""))
