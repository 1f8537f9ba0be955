"""Explore job: the tour of the data as a step of ``aares run-all``."""

from __future__ import annotations

from pathlib import Path

from aares.console import console
from aares.explore.analysis import TourSettings, run_tour

__all__ = ["run_all_step"]


def run_all_step(data_dir: Path, out_dir: Path) -> None:
    """The tour as a step of `aares run-all` (the report then reuses it)."""
    tour = run_tour(data_dir, out_dir, TourSettings())
    console.print(f"{len(tour.findings)} figures in {Path(out_dir) / 'explore'}/")
