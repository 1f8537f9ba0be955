"""Popularity jobs: the steps that read the subset file and write the Exercise 2 outputs.

``aares popularity`` (compare, genres), ``aares run-all`` and the report section call
these; the models, features and mapping are in the library modules
(:mod:`aares.popularity.models`, :mod:`aares.popularity.compare`,
:mod:`aares.popularity.genres`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from aares.console import console, print_frame, progress
from aares.data import SUBSET_FILE, data_file, load_subset
from aares.io import check_writable, ensure_dir, read_json, write_json
from aares.plotting import save_figure, styled, subplots

__all__ = [
    "BASE_FEATURES",
    "ENCODING_VARIANTS",
    "REPORT_MODELS",
    "classify_songs",
    "compare_encodings",
    "fingerprint",
    "importance_of",
    "load_songs",
    "train_job",
    "plot_cooccurrence",
    "run_all_step",
    "run_compare",
    "run_genres",
    "write_outputs",
]


def load_songs(data: Path, sample: int = 0, seed: int = 0) -> pd.DataFrame:
    """The subset file, or a random sample of ``sample`` of its songs (0 = all)."""
    frame = load_subset(data_file(SUBSET_FILE, data))
    if sample and sample < len(frame):
        frame = frame.sample(sample, random_state=seed).reset_index(drop=True)
    return frame


def fingerprint(frame: pd.DataFrame) -> str:
    """A short hash of the songs and their popularity (tells whether outputs are current)."""
    h = pd.util.hash_pandas_object(frame[["id", "popularity"]], index=False).sum()
    return f"{int(h) % 2**64:016x}"


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
    n_jobs: int = 1,
    processes: int = 1,
) -> pd.DataFrame:
    """Cross-validate ``names``, write the table, predictions and figures under ``out``.

    ``n_jobs``: threads of each model (see :func:`aares.popularity.models.make_model`);
    ``processes``: folds (and permutation-importance columns) computed at the same time."""
    from aares.popularity import compare as cmp

    out = ensure_dir(out)
    runs = 1 + int(by_artist)
    with progress() as bar:
        task = bar.add_task("cross-validating", total=len(names) * folds * runs)

        def step(name: str) -> None:
            bar.update(task, advance=1, description=f"cross-validating ({name})")

        table, oof = cmp.cross_validate_models(
            frame, names, n_splits=folds, seed=seed, on_step=step, n_jobs=n_jobs,
            processes=processes,
        )  # fmt: skip
        if by_artist:
            by, _ = cmp.cross_validate_models(
                frame, names, n_splits=folds, seed=seed, by_artist=True, on_step=step,
                n_jobs=n_jobs, processes=processes,
            )  # fmt: skip
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
        imp = importance_of(
            frame, best, seed=seed, n_repeats=importance_repeats, n_jobs=n_jobs,
            processes=processes,
        )  # fmt: skip
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
    frame: pd.DataFrame,
    name: str,
    seed: int = 0,
    n_repeats: int = 3,
    n_jobs: int = 1,
    processes: int = 1,
) -> pd.DataFrame:
    """Permutation importance of raw columns for ``name`` fitted on 80 %, scored on 20 %."""
    from sklearn.model_selection import train_test_split

    from aares.popularity.compare import raw_permutation_importance
    from aares.popularity.models import make_model

    train, test = train_test_split(frame, test_size=0.2, random_state=seed)
    model = make_model(name, seed=seed, n_jobs=n_jobs).fit(train, train["popularity"])
    return raw_permutation_importance(
        model, test, test["popularity"], n_repeats=n_repeats, seed=seed, processes=processes
    )


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
        # one thread, as the popularity models (see aares.popularity.models.make_model)
        model = make_model(classifier, seed=seed, n_jobs=1)
        with console.status(f"training the Exercise 1 {classifier} genre model"):
            model.fit(train.drop(columns="genre"), train["genre"])
    return np.asarray(model.predict(frame), dtype=object)


@styled
def plot_cooccurrence(matrix: pd.DataFrame, path: Path):
    """Heat map of the co-occurrence counts of the most frequent micro-genres."""
    m = matrix.to_numpy(float)
    fig, ax = subplots(figsize=(9, 7.5))
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


#: Models the report computes when no comparison is saved (the run-all set).
REPORT_MODELS = ["mean", "ridge", "lightgbm_audio", "hurdle"]

#: Processes of the run-all comparison: its folds and importance columns on both cores of
#: the course machines and CI (the results do not depend on it).
REPORT_PROCESSES = 2


def _current(path: Path, fp: str) -> bool:
    try:
        return path.is_file() and read_json(path).get("fingerprint") == fp
    except (ValueError, OSError):
        return False


def write_outputs(
    frame: pd.DataFrame, data_dir: Path, out_dir: Path, *, reuse: bool = True
) -> pd.DataFrame | None:
    """Compare :data:`REPORT_MODELS` and map the micro-genres into ``out_dir/popularity``.

    With ``reuse``, each output already computed from the same songs is kept. The genre
    mapping is by words, plus the Exercise 1 model the genre step saved, if any. Returns
    the comparison table when it was computed, else None.
    """
    out, fp, table = Path(out_dir) / "popularity", fingerprint(frame), None
    if not (
        reuse and _current(out / "cv_settings.json", fp) and (out / "cv_results.csv").is_file()
    ):
        table = run_compare(
            frame, out, REPORT_MODELS, by_artist=False, importance=True, importance_repeats=2,
            processes=REPORT_PROCESSES,
        )  # fmt: skip
    if not (
        reuse and _current(out / "genre_summary.json", fp) and (out / "genre_mapping.csv").is_file()
    ):
        saved = Path(out_dir) / "genre" / "model.skops"
        run_genres(
            frame,
            out,
            data=data_dir,
            classifier="none",
            genre_model=saved if saved.is_file() else None,
            encodings=False,
        )
    return table


def run_all_step(data_dir: Path, out_dir: Path) -> None:
    """The popularity step of `aares run-all`: compare the main models, genres by words.

    Kept near two minutes: the models with shared features, shuffled KFold only, the
    genre mapping by words (plus the Exercise 1 model saved by the genre step, if any),
    no encoding comparison (run `aares popularity genres` for it).
    """
    table = write_outputs(load_songs(data_dir), Path(data_dir), Path(out_dir), reuse=False)
    print_frame(table, title="Popularity, 5-fold CV")


def train_job(
    data: Path,
    out: Path,
    *,
    model: str = "best",
    seed: int = 0,
    sample: int = 0,
    folds: int = 5,
    n_jobs: int = 1,
):
    """Train a :class:`~aares.popularity.model.PopularityModel` on the subset of ``data``
    (cross-validation with a progress bar, then the final fit; ``n_jobs`` threads per
    model) and save it with its card."""
    from aares.popularity.model import PopularityModel

    check_writable(out)  # before minutes of training, not after
    path = data_file(SUBSET_FILE, data)
    frame = load_songs(data, sample, seed)
    est = PopularityModel(model, seed=seed, folds=folds, n_jobs=n_jobs)
    with progress() as bar:
        task = bar.add_task(f"{folds}-fold CV, then all {len(frame):,} songs", total=folds + 1)
        est.fit(frame, source=path, on_step=lambda _: bar.advance(task))
        bar.advance(task)
    est.save(out)
    return est
