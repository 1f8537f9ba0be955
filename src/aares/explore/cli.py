"""``aares explore``: the tour of the data, as PNG figures and computed interpretations."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape

from aares.console import console
from aares.errors import DataError

app = typer.Typer(
    invoke_without_command=True,
    no_args_is_help=False,
)


@app.callback()
def explore(
    data: Path = typer.Option(
        Path("data"), "--data", envvar="AARES_DATA", help="Folder with the course CSV files."
    ),
    out: Path = typer.Option(
        Path("out"), "--out", help="Output folder; figures go to OUT/explore/."
    ),
    map_method: str = typer.Option(
        "tsne", "--map", help="2-D song map: 'tsne' (PCA and t-SNE) or 'pca' (PCA only, fast)."
    ),
    sample: int = typer.Option(
        2000, "--sample", min=50, help="Songs drawn (stratified by genre) for the song map."
    ),
    seed: int = typer.Option(0, "--seed", help="Random seed of the sample and of t-SNE."),
) -> None:
    """A data scientist's tour of the course data: figures plus interpretations computed
    from the data (numbers, and which way each trend goes).

    Draws 9 figures into OUT/explore/ (feature and popularity distributions, decades,
    correlations, micro-genres, prolific artists, a PCA/t-SNE map by genre, popular and
    explicit genres) and prints what each one shows.

    Reads spotify_dataset_subset.csv (Exercise 2) and, for the 22 genres,
    spotify_dataset_train.csv (Exercise 1) from the data folder. Also writes
    OUT/explore/tour.json, which `aares report` reuses.
    """
    from aares.explore.analysis import TourSettings, run_tour

    try:
        settings = TourSettings(map_method=map_method, map_sample=sample, seed=seed)
        tour = run_tour(data, out, settings)
    except (DataError, ValueError) as exc:
        console.print(f"[red]error:[/] {escape(str(exc))}")
        raise typer.Exit(1) from None
    for f in tour.findings:
        console.rule(f"[bold]{f.title}")
        console.print(f.text)
        console.print(f"[dim]{f.figure}[/]")
    console.print(f"{len(tour.findings)} figures in {Path(out) / 'explore'}/")
