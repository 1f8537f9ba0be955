"""Exercise 2 as a report section: popularity models and the micro-genres.

Reuses what ``aares run-all`` (or ``aares popularity compare`` / ``genres``) wrote under
``out_dir/popularity`` when it was computed from the same songs; computes what is missing.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from aares.io import read_json
from aares.report.section import Figure, Heading, Note, Section, Table, Text

__all__ = ["report_section"]


def report_section(data_dir: str | os.PathLike, out_dir: str | os.PathLike) -> Section:
    """The Exercise 2 section: model table and figures, genre counts, encodings, mapping."""
    from aares.popularity.jobs import load_songs, write_outputs

    data_dir, out = Path(data_dir), Path(out_dir) / "popularity"
    frame = load_songs(data_dir)
    write_outputs(frame, data_dir, Path(out_dir))
    settings = read_json(out / "cv_settings.json")
    summary = read_json(out / "genre_summary.json")
    table = pd.read_csv(out / "cv_results.csv", index_col=0)
    best = settings["best"]
    zero = summary["share_zero_popularity"]
    blocks: list = [
        Text(
            f"Predicting the popularity (0-100) of the {settings['songs']} songs of the "
            f"subset with {settings['folds']}-fold cross-validation (shuffled, seed "
            f"{settings['seed']}). {zero:.1%} of the songs have popularity 0 "
            f"({summary['share_zero_popularity_without_genre']:.1%} of those without a "
            f"micro-genre, {summary['share_zero_popularity_with_genre']:.1%} of the others). "
            f"The best model, {best}, reaches R2 {table.loc[best, 'r2']:.3f} "
            f"(RMSE {table.loc[best, 'rmse']:.2f}) against {table.loc['mean', 'r2']:.3f} "
            f"(RMSE {table.loc['mean', 'rmse']:.2f}) for the mean. Target statistics of "
            "artists, releases, micro-genres and genre words are learned inside each "
            "training fold (cross-fitted), never from the songs they predict."
        ),
        Table(
            table,
            caption="Cross-validated scores (r2: mean over folds; fit_s: seconds "
            "per fold, features included).",
        ),
        Figure(out / "predicted_vs_true.png", "Out-of-fold predictions against the truth."),
        Figure(
            out / "residuals_by_popularity.png",
            "Residuals by band of true popularity: every model pulls towards the mean, "
            "over-predicting the zeros and under-predicting hits.",
        ),
    ]
    if (out / "permutation_importance.png").is_file():
        imp = pd.read_csv(out / "permutation_importance.csv", index_col=0)
        top = imp.index[:3].tolist()
        blocks.append(
            Figure(
                out / "permutation_importance.png",
                f"Shuffling one raw column at a time: {', '.join(top)} matter "
                "most (drop in R2 on held-out songs).",
            )
        )
    top_genres = pd.read_csv(out / "top_genres.csv", index_col=0).head(12)
    mapping = pd.read_csv(out / "genre_mapping.csv", index_col=0)
    by = mapping["mapped_by"].value_counts()
    mapped_songs = mapping.loc[mapping["mapped_by"] != "none", "songs"].sum()
    blocks += [
        Heading("The genres column"),
        Text(
            f"{summary['songs_without_genre']} songs ({summary['share_without_genre']:.1%}) "
            f"have no micro-genre; the others have {summary['mean_genres_per_song']:.1f} on "
            f"average (up to {summary['max_genres_per_song']}), drawn from "
            f"{summary['distinct_micro_genres']} distinct micro-genres of which "
            f"{summary['micro_genres_seen_once']} appear once. The most frequent is "
            f"'{top_genres.index[0]}' ({int(top_genres['songs'].iloc[0])} songs)."
        ),
        Table(top_genres, caption="Most frequent micro-genres.", floatfmt="{:.2f}"),
        Figure(
            out / "genre_cooccurrence.png",
            "How often the most frequent micro-genres are listed together.",
        ),
    ]
    if (out / "genre_encodings.csv").is_file():
        enc = pd.read_csv(out / "genre_encodings.csv", index_col=0)
        blocks.append(
            Table(
                enc,
                caption="What each genre encoding adds to a LightGBM "
                "popularity model (cross-validated).",
            )
        )
    else:
        blocks.append(
            Note(
                "The comparison of genre encodings (multi-hot, TF-IDF, SVD embedding, target "
                "encodings) takes a few minutes and is not part of this run: "
                "`aares popularity genres --data DIR --out OUT/popularity` adds it here."
            )
        )
    agree = summary.get("words_classifier_agreement")
    blocks += [
        Text(
            f"Each micro-genre is mapped onto the 22 genres of Exercise 1: "
            f"{by.get('words', 0)} by the words of its name (the style named last wins, "
            f"'pop punk' is punk), {by.get('classifier', 0)} by the Exercise 1 classifier "
            f"applied to its songs, {by.get('none', 0)} left unmapped; mapped micro-genres "
            f"cover {mapped_songs / max(mapping['songs'].sum(), 1):.1%} of the genre "
            "labels of the songs."
            + (
                f" Where both apply, words and classifier agree on {agree:.1%}."
                if agree is not None
                else ""
            )
        ),
        Table(
            mapping.head(15)[
                [
                    c
                    for c in ["songs", "genre", "mapped_by", "word", "classifier_genre"]
                    if c in mapping
                ]
            ],
            caption="Mapping of the most frequent micro-genres (all in genre_mapping.csv).",
        ),
    ]
    return Section(
        "Exercise 2: popularity and micro-genres",
        blocks,
        settings={
            "data": settings["data"],
            "cv": f"{settings['folds']}-fold {settings['cv']}, seed {settings['seed']}",
            "models": ", ".join(settings["models"]),
            "outputs": str(out),
        },
    )
