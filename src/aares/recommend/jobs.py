"""Recommend jobs: build the playlist recommender from the data folder, the proxy measures
on the course data, and the ``aares run-all`` step (example playlists and measures)."""

from __future__ import annotations

import time
import warnings
from pathlib import Path

import pandas as pd

from aares.console import console
from aares.data import CATALOGUE_FILE, SUBSET_FILE, TRAIN_FILE, DataError, data_file, load_train
from aares.io import ensure_dir, write_json, write_text
from aares.markdown import markdown_table

__all__ = [
    "DEFAULT_SETTING",
    "PLAYLIST_COLUMNS",
    "PLAYLIST_CONFIGS",
    "build_playlist_recommender",
    "default_playlist_table",
    "playlist_table",
    "run_all_step",
]


PLAYLIST_COLUMNS = ["rank", "name", "artists", "year", "similarity", "why"]


def build_playlist_recommender(
    data: Path, cache: Path | None, catalogue: Path | None = None, **params
):
    """Fit a PlaylistRecommender on ``catalogue`` (default: the data folder's), cached.

    The labelled songs of ``data`` (the genre training file), when there, let the song space
    learn its genre metric; any catalogue with the Kaggle layout works without them.
    """
    from aares.recommend import load_recommender

    try:
        genres_file = data_file(TRAIN_FILE, data)
    except DataError:
        genres_file = None  # the space works without the labelled songs
    songs = catalogue if catalogue is not None else data_file(CATALOGUE_FILE, data)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        rec = load_recommender(songs, cache_dir=cache, genres_file=genres_file, **params)
    for w in seen:
        if issubclass(w.category, UserWarning):
            console.print(f"[yellow]warning:[/] {w.message}", highlight=False)
    return rec


#: the playlist settings compared on the proxy (the first one is the default recommender)
PLAYLIST_CONFIGS = {
    "aares default (artist 0.7, LDA 0.5)": {},
    "aares, diversity 0.3": {"diversity": 0.3},
    "aares without artist sound": {"artist_weight": 0.0},
    "aares without LDA": {"space": {"lda_weight": 0.0}},
    "aares without year": {"space": {"use_year": False}},
}


#: the default recommender's name in the proxy tables
DEFAULT_SETTING = next(iter(PLAYLIST_CONFIGS))


def playlist_table(
    data: Path,
    configs: dict | None = None,
    halves=("report",),
    cache: Path | None = None,
    progress=None,
) -> pd.DataFrame:
    """The proxy measures of :data:`PLAYLIST_CONFIGS` and the baselines (see
    :func:`aares.recommend.evaluate.evaluate_playlists`) on the course data."""
    from aares.data import load_subset
    from aares.recommend.catalog import load_catalogue_cached
    from aares.recommend.evaluate import evaluate_playlists, micro_genre_pool

    catalogue = load_catalogue_cached(data_file(CATALOGUE_FILE, data), cache)
    genres = micro_genre_pool(catalogue, load_subset(data_file(SUBSET_FILE, data)))
    train = load_train(data_file(TRAIN_FILE, data))
    return evaluate_playlists(
        catalogue, genres, configs or PLAYLIST_CONFIGS, train, halves=halves, progress=progress
    )


def default_playlist_table(data: Path, cache: Path | None = None) -> pd.DataFrame:
    """The proxy measures of the default recommender (:data:`DEFAULT_SETTING`) and the
    baselines, as the main job and the report show them."""
    return playlist_table(data, {DEFAULT_SETTING: PLAYLIST_CONFIGS[DEFAULT_SETTING]}, cache=cache)


def run_all_step(data_dir: Path, out_dir: Path) -> None:
    """Main-job step: build the index, write example playlists and the playlist proxy
    measures (default settings against the baselines) under ``out_dir/recommend/``."""
    folder = ensure_dir(Path(out_dir) / "recommend")
    t0 = time.perf_counter()
    rec = build_playlist_recommender(Path(data_dir), folder / "cache")
    build_s = time.perf_counter() - t0
    examples = [("Bohemian Rhapsody", "Queen"), ("Yesterday", "The Beatles"), ("Hello", "Adele")]
    lines = [
        f"# Example playlists\n\nIndex of {len(rec.vectors_):,} songs built in {build_s:.1f} s.\n"
    ]
    records = []
    for title, artist in examples:
        try:
            seed = rec.find(title, artist)
        except LookupError as exc:
            lines.append(f"\n{title} ({artist}): {exc}\n")
            continue
        pl = rec.recommend([seed], n=10)
        lines.append(f"\n## {rec.seed_index_.label(seed)}\n\n")
        lines.append(markdown_table(pl[PLAYLIST_COLUMNS], "{:.3f}") + "\n")
        records.append({"seed": rec.seed_index_.label(seed), "playlist": pl.to_dict("records")})
    write_text(folder / "example_playlists.md", "".join(lines))
    write_json(folder / "example_playlists.json", records)
    console.print(f"example playlists in {folder / 'example_playlists.md'}")
    table = default_playlist_table(Path(data_dir), cache=folder / "cache")
    write_json(folder / "playlist_measures.json", table.to_dict(orient="records"))
    agree = table.set_index("setting")["genre_agreement"]
    console.print(
        f"playlist proxy: genre agreement {agree[DEFAULT_SETTING]:.1%} "
        f"(random {agree['random picks']:.1%})"
    )
