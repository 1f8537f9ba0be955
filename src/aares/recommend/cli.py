"""``aares recommend``: playlists from songs, from listening histories, and their evaluation."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from aares.console import console, print_frame
from aares.errors import DataError

if TYPE_CHECKING:
    import pandas as pd

app = typer.Typer(
    help="Song recommendation: playlists from seed songs (audio-feature space), "
    "collaborative models on Last.fm listening, a hybrid of both, and their evaluation.",
    no_args_is_help=True,
)

DATA_OPT = typer.Option(Path("data"), "--data", envvar="AARES_DATA", help="Data folder.")
CATALOGUE_OPT = typer.Option(
    None,
    "--catalogue",
    help="Any song catalogue with the Kaggle column layout (CSV, Parquet, JSON lines): the "
    "course's 174k file, the 600k-track release... Default: the data folder's.",
)
CACHE_OPT = typer.Option(
    Path("out/recommend/cache"),
    "--cache",
    help="Folder for the parsed catalogue (Parquet, one entry per file checksum).",
)


def _fail(exc: Exception) -> None:
    console.print(f"[red]error:[/] {exc}")
    raise typer.Exit(1)


def _show(playlist: pd.DataFrame, title: str, out_json: Path | None) -> None:
    from aares.io import write_json
    from aares.recommend.jobs import PLAYLIST_COLUMNS

    print_frame(playlist[[c for c in PLAYLIST_COLUMNS if c in playlist]], title)
    if out_json is not None:
        write_json(out_json, playlist.to_dict(orient="records"))
        console.print(f"written {out_json}")


@app.command("playlist")
def playlist_cmd(
    titles: list[str] = typer.Argument(..., help="Seed song title(s); several seeds allowed."),
    artist: list[str] = typer.Option(
        None, "--artist", "-a", help="Artist of each seed, in order (repeat for several seeds)."
    ),
    n: int = typer.Option(10, "-n", min=1, help="Playlist length."),
    diversity: float = typer.Option(
        0.0, "--diversity", min=0.0, max=1.0, help="0 = closest songs; up to 1 = more varied (MMR)."
    ),
    max_per_artist: int = typer.Option(2, "--max-per-artist", min=1, help="Most songs per artist."),
    out_json: Path = typer.Option(None, "--json", help="Also write the playlist as JSON."),
    data: Path = DATA_OPT,
    catalogue: Path = CATALOGUE_OPT,
    cache: Path = CACHE_OPT,
) -> None:
    """A playlist of songs close to the seed song(s), with the reason for each pick.

    Titles match tolerantly (case, accents, "feat.", "- Remastered 2011", "(Live)"); when
    several artists have the title, give --artist. Example:

        aares recommend playlist "Bohemian Rhapsody" -a Queen -n 10 --diversity 0.2
    """
    from aares.recommend.catalog import AmbiguousSeed, SeedNotFound
    from aares.recommend.jobs import build_playlist_recommender

    try:
        t0 = time.perf_counter()
        rec = build_playlist_recommender(data, cache, catalogue, max_per_artist=max_per_artist)
        console.print(
            f"index of {len(rec.vectors_):,} songs built in {time.perf_counter() - t0:.1f} s"
        )
        artists = list(artist or [])
        if len(artists) > len(titles):
            raise ValueError(f"{len(artists)} --artist options for {len(titles)} seed title(s)")
        t1 = time.perf_counter()
        artists += [None] * (len(titles) - len(artists))
        seeds = [rec.find(t, a) for t, a in zip(titles, artists, strict=True)]
        pl = rec.recommend(seeds, n=n, diversity=diversity)
        ms = (time.perf_counter() - t1) * 1000
    except (AmbiguousSeed, SeedNotFound, DataError, ValueError) as exc:
        _fail(exc)
    seeds_txt = "; ".join(rec.seed_index_.label(s) for s in seeds)
    _show(pl, f"Playlist for {seeds_txt} ({ms:.0f} ms)", out_json)


@app.command("user")
def user_cmd(
    user_id: int = typer.Argument(None, help="Last.fm user id (HetRec 2011), e.g. 2."),
    like: list[str] = typer.Option(
        None, "--like", help="A liked song title (repeat): recommend for a new user instead."
    ),
    artist: list[str] = typer.Option(
        None, "--artist", "-a", help="Artist of each --like song, in order (repeat)."
    ),
    n: int = typer.Option(10, "-n", min=1, help="Number of artists and songs."),
    blend: float = typer.Option(
        0.4, "--blend", min=0.0, max=1.0, help="Weight of collaborative artist scores."
    ),
    out_json: Path = typer.Option(None, "--json", help="Also write the playlist as JSON."),
    data: Path = DATA_OPT,
    catalogue: Path = CATALOGUE_OPT,
    cache: Path = CACHE_OPT,
) -> None:
    """Artists (EASE on everyone's Last.fm listening) and a hybrid song playlist for a user.

    Give a Last.fm user id, or --like "Title" (several times, with --artist in the same
    order when a title is ambiguous) for a new user. Example:

        aares recommend user --like Wonderwall -a Oasis --like Creep -a Radiohead
    """
    from aares.recommend.catalog import AmbiguousSeed, SeedNotFound
    from aares.recommend.collaborative import load_lastfm
    from aares.recommend.hybrid import HybridRecommender
    from aares.recommend.jobs import build_playlist_recommender

    if user_id is None and not like:
        _fail(ValueError("give a Last.fm user id or at least one --like song"))
    try:
        lastfm = load_lastfm(data)  # cheap: an unknown user is told before the index is built
        if user_id is not None:
            lastfm.row_of(user_id)
        rec = build_playlist_recommender(data, cache, catalogue)
        hyb = HybridRecommender(rec, blend=blend).fit(lastfm)
        console.print(f"{hyb.link_rate_:.0%} of Last.fm artists linked to the catalogue")
        if user_id is not None:
            row = hyb.user_row(user_id)
            arts = hyb.artist_scores(row, top=n)
            print_frame(arts[["artist", "score", "in_catalogue"]], f"Artists for user {user_id}")
            pl = hyb.recommend_user(user_id, n=n)
            title = f"Songs for Last.fm user {user_id}"
        else:
            artists = list(artist or [])
            if len(artists) > len(like):
                raise ValueError(f"{len(artists)} --artist options for {len(like)} --like songs")
            artists += [None] * (len(like) - len(artists))
            rows = [rec.find(t, a) for t, a in zip(like, artists, strict=True)]
            pl = hyb.recommend_new_user(rows, n=n)
            title = "Songs for a new user who likes " + "; ".join(
                rec.seed_index_.label(r) for r in rows
            )
    except (AmbiguousSeed, SeedNotFound, DataError, ValueError) as exc:
        _fail(exc)
    _show(pl, title, out_json)


@app.command("song")
def song_cmd(
    features: list[str] = typer.Argument(
        ..., help="Features of a new song as name=value, e.g. energy=0.8 tempo=125 year=2015."
    ),
    n: int = typer.Option(10, "-n", min=1, help="Playlist length."),
    data: Path = DATA_OPT,
    catalogue: Path = CATALOGUE_OPT,
    cache: Path = CACHE_OPT,
) -> None:
    """A playlist around a new song known only by its features (others: catalogue median)."""
    import pandas as pd

    from aares.recommend.jobs import build_playlist_recommender

    try:
        rec = build_playlist_recommender(data, cache, catalogue)
        cols = rec.space_.columns
        given = {}
        for item in features:
            name, sep, value = item.partition("=")
            if not sep or name not in cols:
                raise ValueError(f"expected name=value with name in {cols}, got {item!r}")
            given[name] = float(value)
        frame = pd.DataFrame([{**rec.feature_medians_, **given}])
        from aares.recommend.hybrid import HybridRecommender

        pl = HybridRecommender(rec).recommend_new_song(frame, n=n)
    except (DataError, ValueError) as exc:
        _fail(exc)
    _show(pl, f"Playlist for a new song with {given}", None)


@app.command("evaluate")
def evaluate_cmd(
    what: str = typer.Option("all", "--what", help="playlists, collaborative or all."),
    out: Path = typer.Option(Path("out"), "--out", help="Output folder (writes out/recommend/)."),
    data: Path = DATA_OPT,
    cache: Path = CACHE_OPT,
) -> None:
    """Offline evaluation: playlist proxy measures and the collaborative protocol.

    Playlists: micro-genre agreement with the seed, duplicate versions, artist diversity,
    popularity bias, against random picks and plain features. Collaborative: users with 10
    artists or more, 20 % held out (seed 0), settings chosen on a validation split.
    """
    if what not in ("playlists", "collaborative", "all"):
        _fail(ValueError(f"--what must be playlists, collaborative or all, got {what!r}"))
    from aares.io import ensure_dir, write_json
    from aares.recommend.jobs import playlist_table

    folder = ensure_dir(out / "recommend")

    def say(message: str) -> None:
        console.print(message, highlight=False)

    try:
        if what in ("playlists", "all"):
            table = playlist_table(data, cache=cache, progress=say)
            shown = table.drop(columns=["seeds", "mean_length"]).round(3)
            print_frame(shown, "Playlist proxy measures (report half of the seeds)")
            write_json(folder / "playlist_measures.json", table.to_dict(orient="records"))
        if what in ("collaborative", "all"):
            from aares.recommend.collaborative import load_lastfm
            from aares.recommend.evaluate import evaluate_collaborative

            table = evaluate_collaborative(load_lastfm(data).X, progress=say)
            print_frame(table.drop(columns=["setting"]).round(4), "Collaborative (test split)")
            write_json(folder / "collaborative.json", table.to_dict(orient="records"))
    except (DataError, ValueError) as exc:
        _fail(exc)
