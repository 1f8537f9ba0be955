"""``aares popularity``: predict song popularity and read the ``genres`` column (Exercise 2)."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
import typer

from aares.console import console, print_frame, progress
from aares.data import SUBSET_FILE, DataError, data_file, load_subset
from aares.io import ensure_dir, write_json

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


def _subset(data: Path, sample: int = 0, seed: int = 0) -> pd.DataFrame:
    frame = load_subset(data_file(SUBSET_FILE, data))
    if sample and sample < len(frame):
        frame = frame.sample(sample, random_state=seed).reset_index(drop=True)
    return frame


def fingerprint(frame: pd.DataFrame) -> str:
    """A short hash of the songs and their popularity (tells whether outputs are current)."""
    h = pd.util.hash_pandas_object(frame[["id", "popularity"]], index=False).sum()
    return f"{int(h) % 2**64:016x}"


def _names(models: str) -> list[str]:
    from aares.popularity.models import MODEL_NAMES

    names = [m.strip() for m in models.split(",") if m.strip()]
    unknown = [m for m in names if m not in MODEL_NAMES]
    if unknown:
        raise ValueError(f"unknown model(s) {unknown}; choose from {MODEL_NAMES}")
    return names


def run_compare(
    frame: pd.DataFrame,
    out: Path,
    names: list[str],
    *,
    folds: int = 5,
    seed: int = 0,
    by_artist: bool = True,
    importance: bool = True,
    importance_repeats: int = 3,
) -> pd.DataFrame:
    """Cross-validate ``names``, write the table, predictions and figures under ``out``."""
    from aares.popularity import compare as cmp

    out = ensure_dir(out)
    runs = 1 + int(by_artist)
    with progress() as bar:
        task = bar.add_task("cross-validating", total=len(names) * folds * runs)

        def step(name: str) -> None:
            bar.update(task, advance=1, description=f"cross-validating ({name})")

        table, oof = cmp.cross_validate_models(
            frame, names, n_splits=folds, seed=seed, on_step=step
        )
        if by_artist:
            by, _ = cmp.cross_validate_models(
                frame, names, n_splits=folds, seed=seed, by_artist=True, on_step=step
            )
            table["r2_new_artists"] = by["r2"]
    table.to_csv(out / "cv_results.csv")
    oof.to_csv(out / "cv_predictions.csv", index=False)
    y = oof["true"].to_numpy()
    best = table.drop(index=["mean"], errors="ignore")["r2"].idxmax()
    cmp.plot_predicted_vs_true(
        y,
        oof[best],
        out / "predicted_vs_true.png",
        title=f"Predicted vs true popularity ({best}, out-of-fold)",
    )
    shown = [n for n in dict.fromkeys(["ridge", "lightgbm", best]) if n in oof]
    cmp.plot_residuals_by_popularity(
        y, {n: oof[n].to_numpy() for n in shown}, out / "residuals_by_popularity.png"
    )
    if importance:
        imp = importance_of(frame, best, seed=seed, n_repeats=importance_repeats)
        imp.to_csv(out / "permutation_importance.csv")
        cmp.plot_importance(
            imp,
            out / "permutation_importance.png",
            title=f"Permutation importance ({best}, held-out 20 %)",
        )
    write_json(
        out / "cv_settings.json",
        {
            "data": SUBSET_FILE,
            "songs": len(frame),
            "fingerprint": fingerprint(frame),
            "folds": folds,
            "seed": seed,
            "cv": "KFold(shuffle=True)",
            "extra_column": "GroupKFold by artist" if by_artist else "",
            "models": names,
            "best": best,
        },
    )
    return table


def importance_of(
    frame: pd.DataFrame, name: str, seed: int = 0, n_repeats: int = 3
) -> pd.DataFrame:
    """Permutation importance of raw columns for ``name`` fitted on 80 %, scored on 20 %."""
    from sklearn.model_selection import train_test_split

    from aares.popularity.compare import raw_permutation_importance
    from aares.popularity.models import make_model

    train, test = train_test_split(frame, test_size=0.2, random_state=seed)
    model = make_model(name, seed=seed).fit(train, train["popularity"])
    return raw_permutation_importance(
        model, test, test["popularity"], n_repeats=n_repeats, seed=seed
    )


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
    try:
        frame = _subset(data, sample, seed)
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
    from aares.popularity.models import BEST_MODEL, make_model
    from aares.popularity.persist import save_model

    model = BEST_MODEL if model == "best" else model
    try:
        frame = _subset(data, sample, seed)
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
    try:
        frame = _subset(data)
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


def run_genres(
    frame: pd.DataFrame,
    out: Path,
    *,
    data: Path | None = None,
    classifier: str = "none",
    genre_model: Path | None = None,
    encodings: bool = True,
    folds: int = 5,
    seed: int = 0,
) -> dict:
    """Everything ``aares popularity genres`` writes; returns the summary."""
    from aares.popularity import genres as G

    out = ensure_dir(out)
    summary = G.genre_summary(frame["genres"])
    summary["fingerprint"] = fingerprint(frame)
    summary["share_zero_popularity"] = float((frame["popularity"] == 0).mean())
    none = frame["genres"].map(len) == 0
    summary["share_zero_popularity_without_genre"] = float((frame["popularity"][none] == 0).mean())
    summary["share_zero_popularity_with_genre"] = float((frame["popularity"][~none] == 0).mean())
    write_json(out / "genre_summary.json", summary)
    console.print(
        f"{summary['songs_without_genre']} of {summary['songs']} songs "
        f"({summary['share_without_genre']:.1%}) have no micro-genre; "
        f"{summary['distinct_micro_genres']} distinct micro-genres, "
        f"{summary['mean_genres_per_song']:.1f} per song on average."
    )
    top = G.top_genres(frame["genres"], frame["popularity"], n=25)
    top.to_csv(out / "top_genres.csv")
    print_frame(top.head(15).astype({"songs": object}), title="Most frequent micro-genres")
    plot_cooccurrence(
        G.cooccurrence(frame["genres"], top.index[:20]), out / "genre_cooccurrence.png"
    )

    predicted = None
    if genre_model is not None or classifier != "none":
        predicted = classify_songs(
            frame, data=data, classifier=classifier, genre_model=genre_model, seed=seed
        )
    mapping = G.genre_mapping(frame, predicted)
    mapping.to_csv(out / "genre_mapping.csv")
    songs = pd.DataFrame({"id": frame["id"], "genre_by_words": G.song_genres(frame, mapping)})
    if predicted is not None:
        songs["genre_by_classifier"] = predicted
    songs.to_csv(out / "subset_genres.csv", index=False)
    by = mapping["mapped_by"].value_counts()
    console.print(
        f"Mapping: {by.get('words', 0)} micro-genres by words, {by.get('classifier', 0)} "
        f"by classifier, {by.get('none', 0)} unmapped; written to {out / 'genre_mapping.csv'}"
    )
    if predicted is not None:
        both = mapping.dropna(subset=["word_genre", "classifier_genre"])
        agree = float(np.average(both["agree"], weights=both["songs"])) if len(both) else 0.0
        summary["words_classifier_agreement"] = agree
        console.print(f"Words and classifier agree on {agree:.1%} of micro-genre occurrences.")
        write_json(out / "genre_summary.json", summary)
    if encodings:
        table = compare_encodings(frame, folds=folds, seed=seed)
        table.to_csv(out / "genre_encodings.csv")
        print_frame(table, title="What each genre encoding adds (LightGBM, CV)")
    return summary


def classify_songs(
    frame: pd.DataFrame,
    *,
    data: Path | None,
    classifier: str,
    genre_model: Path | None,
    seed: int = 0,
) -> np.ndarray:
    """Exercise 1 genre of every subset song by the aares genre classifier."""
    from aares.genre.models import make_model

    if genre_model is not None:
        from aares.genre.persist import load_model

        model = load_model(genre_model)
    else:
        from aares.data import TRAIN_FILE, load_train

        train = load_train(data_file(TRAIN_FILE, data))
        model = make_model(classifier, seed=seed)
        for key in model.get_params():  # one thread: see aares.popularity.models.N_JOBS
            if key.endswith("n_jobs"):
                model.set_params(**{key: 1})
        with console.status(f"training the Exercise 1 {classifier} genre model"):
            model.fit(train.drop(columns="genre"), train["genre"])
    return np.asarray(model.predict(frame), dtype=object)


def plot_cooccurrence(matrix: pd.DataFrame, path: Path):
    """Heat map of the co-occurrence counts of the most frequent micro-genres."""
    from aares.plotting import plt, save_figure

    m = matrix.to_numpy(float)
    fig, ax = plt.subplots(figsize=(9, 7.5))
    im = ax.imshow(np.log1p(m), cmap="magma_r")
    ax.set_xticks(range(len(matrix)), matrix.columns, rotation=90, fontsize=8)
    ax.set_yticks(range(len(matrix)), matrix.index, fontsize=8)
    ax.grid(False)
    ax.set_title("Co-occurrence of the 20 most frequent micro-genres (songs)")
    cbar = fig.colorbar(im, ax=ax, shrink=0.8)
    ticks = np.array([0, 10, 100, 1000])
    ticks = ticks[ticks <= m.max()]
    cbar.set_ticks(np.log1p(ticks), labels=[str(t) for t in ticks])
    cbar.set_label("songs holding both (diagonal: songs)")
    return save_figure(fig, path)


#: Genre encodings compared by `aares popularity genres`, added to BASE_FEATURES.
ENCODING_VARIANTS = {
    "base (number of genres only)": (),
    "multi-hot top 50": ("multi_hot",),
    "TF-IDF of genre words": ("tfidf",),
    "SVD embedding (12-d)": ("svd",),
    "target encoding of micro-genres": ("genre_te",),
    "target encoding of genre words": ("word_te",),
    "target encoding of the whole list": ("genre_set_te",),
    "all of these": ("genre_te", "word_te", "genre_set_te", "tfidf", "svd", "multi_hot"),
}

#: Features every variant has: audio, date, title, artist and release target statistics.
BASE_FEATURES = ("song", "artist_te", "release_te")


def compare_encodings(frame: pd.DataFrame, folds: int = 5, seed: int = 0) -> pd.DataFrame:
    """R2 of a LightGBM with each genre encoding on top of the base features."""
    from aares.popularity.compare import cross_validate_models
    from aares.popularity.models import _pipe, lightgbm_regressor

    models = {}
    for name, extra in ENCODING_VARIANTS.items():
        # A lighter LightGBM than the tuned one keeps the comparison quick.
        reg = lightgbm_regressor(seed, n_estimators=300, learning_rate=0.04)
        models[name] = _pipe(reg, BASE_FEATURES + extra, seed)
    with progress() as bar:
        task = bar.add_task("comparing genre encodings", total=len(models) * folds)
        table, _ = cross_validate_models(
            frame,
            list(models),
            models=models,
            n_splits=folds,
            seed=seed,
            on_step=lambda n: bar.advance(task),
        )
    table["r2_gain"] = table["r2"] - table.loc["base (number of genres only)", "r2"]
    return table[["r2", "r2_std", "rmse", "r2_gain", "fit_s"]]


@app.command("models")
def list_models() -> None:
    """List the popularity models and the default one."""
    from aares.popularity.models import BEST_MODEL, MODEL_NAMES

    for name in MODEL_NAMES:
        console.print(f"{name}{'  (default: best 5-fold CV R2)' if name == BEST_MODEL else ''}")


def run_all_step(data_dir: Path, out_dir: Path) -> None:
    """The popularity step of `aares run-all`: compare the main models, genres by words.

    Kept near two minutes: the models with shared features, shuffled KFold only, the
    genre mapping by words (plus the Exercise 1 model saved by the genre step, if any),
    no encoding comparison (run `aares popularity genres` for it).
    """
    from aares.popularity.report import write_outputs

    table = write_outputs(_subset(data_dir), Path(data_dir), Path(out_dir), reuse=False)
    print_frame(table, title="Popularity, 5-fold CV")
