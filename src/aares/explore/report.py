"""The tour of the data as a report section (reusing a tour already written for this data)."""

from __future__ import annotations

import os
from dataclasses import asdict
from pathlib import Path

from aares.data import SUBSET_FILE, TRAIN_FILE
from aares.explore.analysis import TOUR_FILE, Tour, TourSettings, file_info, load_tour, run_tour
from aares.report.section import Figure, Heading, Section, Table, Text

__all__ = ["report_section", "tour_for_report", "tour_section"]

#: Findings whose table is worth printing in the report (the others speak through the figure).
TABLES = {"decades", "song_map", "genre_popularity_explicit", "prolific_artists"}


def _current(tour: Tour, data_dir: Path) -> bool:
    """A saved tour is reused when it read the same files and its figures are still on disk.

    Its settings may differ from the defaults (``aares explore --map pca``, say): the
    report states the settings it was computed with.
    """
    want = {"subset": file_info(data_dir / SUBSET_FILE)}
    if (data_dir / TRAIN_FILE).is_file():
        want["train"] = file_info(data_dir / TRAIN_FILE)
    return tour.files == want and all(f.figure.is_file() for f in tour.findings)


def tour_for_report(
    data_dir: str | os.PathLike, out_dir: str | os.PathLike, settings: TourSettings | None = None
) -> tuple[Tour, bool]:
    """The tour for ``data_dir``: reused from ``out_dir/explore`` when current, else run
    with ``settings`` (default :class:`TourSettings`).

    Returns the tour and whether it was reused.
    """
    settings = settings or TourSettings()
    data_dir, out_dir = Path(data_dir), Path(out_dir)
    if (out_dir / "explore" / TOUR_FILE).is_file():
        try:
            tour = load_tour(out_dir)
            if _current(tour, data_dir):
                return tour, True
        except (ValueError, KeyError, TypeError):
            pass  # an old or damaged tour.json: compute it again
    return run_tour(data_dir, out_dir, settings, show_progress=False), False


def tour_section(tour: Tour, reused: bool = False) -> Section:
    """Turn a :class:`Tour` into a report :class:`Section`."""
    files = ", ".join(
        f"{v['name']} ({'Exercise 2 subset' if k == 'subset' else 'Exercise 1 training file'})"
        for k, v in tour.files.items()
    )
    blocks: list = [
        Text(
            f"A tour of the data in {len(tour.findings)} figures, read from {files}. "
            "Each interpretation below is computed from the data by this run: the numbers, "
            "and which way each trend goes."
        )
    ]
    for f in tour.findings:
        blocks += [Heading(f.title), Figure(f.figure, f.caption), Text(f.text)]
        if f.key in TABLES and f.table is not None:
            blocks.append(Table(f.table, f"Numbers behind the figure '{f.title}'."))
    settings = {k: str(v) for k, v in asdict(tour.settings).items()}
    settings["tour"] = "reused from an earlier run on the same files" if reused else "computed"
    return Section("Exercise 2: what the data shows", blocks, settings)


def report_section(data_dir: str | os.PathLike, out_dir: str | os.PathLike) -> Section:
    """The report section of ``aares explore`` (reuses ``out_dir/explore`` when current)."""
    tour, reused = tour_for_report(data_dir, out_dir)
    return tour_section(tour, reused)
