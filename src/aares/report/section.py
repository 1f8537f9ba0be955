"""The building blocks a capability hands to the report.

Each capability provides ``report_section(data_dir, out_dir) -> Section`` in
``aares/<capability>/report.py``; the report renders every section to HTML and PDF.
Numbers and figures in a section come from the run that builds it, never from canned text.

Example
-------
>>> from aares.report.section import Section, Text
>>> s = Section("Exercise 1: genres", [Text("F1-micro 0.51 in 5-fold CV.")])
>>> s.title
'Exercise 1: genres'
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd


@dataclass
class Text:
    """A paragraph of plain text (a blank line separates paragraphs)."""

    text: str


@dataclass
class Figure:
    """A PNG file and its caption."""

    path: Path
    caption: str = ""


@dataclass
class Table:
    """A small table (rendered with its index when the index is named)."""

    frame: pd.DataFrame
    caption: str = ""
    floatfmt: str = "{:.3f}"


@dataclass
class Heading:
    """A sub-heading inside a section (listed in the table of contents)."""

    text: str


@dataclass
class Note:
    """A highlighted box: ``level`` is ``"info"``, ``"warning"`` or ``"error"``."""

    text: str
    level: str = "info"


Block = Text | Figure | Table | Heading | Note


@dataclass
class Section:
    """A titled part of the report: an ordered list of blocks, plus the settings used."""

    title: str
    blocks: list[Block] = field(default_factory=list)
    settings: dict[str, str] = field(default_factory=dict)

    def figures(self) -> list[Figure]:
        return [b for b in self.blocks if isinstance(b, Figure)]
