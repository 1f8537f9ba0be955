"""The recommendation section of the Part 1 report (Exercise 3).

Reuses ``out_dir/recommend/playlist_measures.json`` and ``collaborative.json`` written by
``aares recommend evaluate`` when present; otherwise measures the default playlists against
the baselines in this run (about a minute) and says that the collaborative table needs
``aares recommend evaluate --what collaborative``. Example playlists written by the run-all
step (``example_playlists.md``) are listed when present.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from aares.io import ensure_dir, read_json
from aares.plotting import save_figure, styled, subplots
from aares.report.section import Figure, Note, Section, Table, Text

__all__ = ["report_section"]


def _playlist_measures(data_dir: Path, folder: Path) -> tuple[pd.DataFrame, str]:
    cached = folder / "playlist_measures.json"
    if cached.is_file():
        table = pd.DataFrame(read_json(cached))
        origin = f"from {cached.name} (aares recommend evaluate)"
    else:
        from aares.recommend.jobs import default_playlist_table

        table = default_playlist_table(data_dir, cache=folder / "cache")
        origin = "measured in this run"
    if "seeds" in table:
        table = table[table["seeds"] == "report"]
    return table.reset_index(drop=True), origin


@styled
def report_section(data_dir, out_dir) -> Section:
    """Exercise 3: playlist design, proxy measures and collaborative results."""
    data_dir, out_dir = Path(data_dir), Path(out_dir)
    folder = ensure_dir(out_dir / "recommend")
    table, origin = _playlist_measures(data_dir, folder)
    blocks = [
        Text(
            "Playlists are nearest neighbours in a designed feature space: the 0-1 perceptual "
            "features, loudness, log tempo and log duration, mode, release year and popularity, "
            "square roots for the skewed speechiness, instrumentalness and liveness, all "
            "standardised; half of the space is a linear discriminant projection learned from "
            "the 25k songs with labelled genres (Exercise 1), and each song's vector is blended "
            "(70 %) with its artist's average sound. Cosine similarity on unit vectors. "
            "Several seeds each get their own neighbour list, picked in turn. Rules: no seed, "
            "no two versions of one song (same core title and artist, after removing "
            "remaster/live/edit/feat. marks), at most two songs per artist, a reason per pick, "
            "and maximal marginal relevance as the diversity knob."
        ),
    ]
    shown = table.copy()
    for c in ["genre_agreement", "dup_playlists"]:
        shown[c] = 100 * shown[c]
    cols = ["setting", "genre_agreement", "dup_playlists", "artist_diversity", "popularity_bias"]
    blocks.append(
        Table(
            shown[cols].rename(
                columns={"genre_agreement": "genre agreement %", "dup_playlists": "dup. versions %"}
            ),
            caption="Micro-genre proxy: seeds and picks are the catalogue songs that have "
            "micro-genres in the subset file (matched by id); 10 songs per seed "
            f"(report half of the seeds; {origin}).",
            floatfmt="{:.2f}",
        )
    )
    fig, ax = subplots(figsize=(7, 3.2))
    ax.barh(shown["setting"], shown["genre_agreement"], color="#4c72b0")
    ax.invert_yaxis()
    ax.set_xlabel("picks sharing a micro-genre with the seed (%)")
    path = save_figure(fig, folder / "genre_agreement.png")
    blocks.append(Figure(path, "Genre agreement of 10-song playlists, by setting."))

    blocks.append(
        Text(
            "Everyone's listening: the Last.fm HetRec 2011 play counts (1,892 users x 17,632 "
            "artists) feed collaborative models: most popular, item-kNN (cosine with "
            "shrinkage), RP3beta (a 3-step random walk that discounts popular artists), ALS "
            "matrix factorisation (implicit), EASE (closed-form item autoencoder) and the aares "
            "blend (EASE + RP3beta + item-kNN + ALS, per-user min-max scores weighted "
            "1:1:1:3 on the validation split). The discovery setting keeps the blend's first "
            "picks and gives the last slots of each list to little-played artists (each "
            "handed to one user), which spreads recommendations over the catalogue. The hybrid "
            "links Last.fm artists to catalogue artists by normalised name, seeds a song "
            "playlist with the user's favourite linked artists and ranks songs by audio "
            "similarity blended with the collaborative artist score; a new user is a row of "
            "liked songs' artists, a new song is its feature vector."
        )
    )
    collab = folder / "collaborative.json"
    if collab.is_file():
        frame = pd.DataFrame(read_json(collab))
        cols = ["model", "val_ndcg", "ndcg", "recall", "precision", "coverage", "fit_s"]
        frame = frame[cols].rename(
            columns={
                "val_ndcg": "val. NDCG@10",
                "ndcg": "NDCG@10",
                "recall": "Recall@10",
                "precision": "P@10",
                "fit_s": "fit s",
            }
        )
        blocks.append(
            Table(
                frame,
                caption="Collaborative models on Last.fm (users >= 10 artists, 20 % held out, "
                "settings chosen on a validation split; test metrics at 10).",
                floatfmt="{:.4f}",
            )
        )
    else:
        blocks.append(
            Note(
                "Collaborative results: run `aares recommend evaluate --what collaborative "
                f"--out {out_dir}` (about 10 minutes) to add them here."
            )
        )
    examples = folder / "example_playlists.json"
    if examples.is_file():
        for ex in read_json(examples)[:1]:
            frame = pd.DataFrame(ex["playlist"])[["rank", "name", "artists", "year", "why"]]
            blocks.append(Table(frame, caption=f"Example playlist for {ex['seed']}."))
        blocks.append(Text(f"More example playlists: {folder / 'example_playlists.md'}."))
    return Section("Exercise 3: song recommendation", blocks, {"data": str(data_dir)})
