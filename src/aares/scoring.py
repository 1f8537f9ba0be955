"""Predicting anyone's files with a trained model (the jobs layer of ``... predict FILE``).

:func:`predict_files` reads each input (CSV, Parquet or JSON lines), lets the model prepare
it (column matching, fills and drift warnings, see :mod:`aares.inputs`), predicts, and
writes one table: the input's id/name columns (or every column with ``keep_all``), a
``file`` column when there are several inputs, then the model's prediction columns. The
warnings are collected and returned, one line each, for the command line to print.

Example
-------
>>> from aares.genre import load_model                                          # doctest: +SKIP
>>> run = predict_files(load_model("model.skops"), ["mine.csv"], "pred.parquet")  # doctest: +SKIP
>>> run.notes                                                                   # doctest: +SKIP
["mine.csv: no 'release_date' column: every song gets '2010'; the model loses ..."]
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from aares.tables import id_columns, write_table

__all__ = ["PredictionRun", "predict_files"]


@dataclass
class PredictionRun:
    """What :func:`predict_files` predicted and where it wrote it (``None``: stdout)."""

    table: pd.DataFrame
    written: Path | None
    notes: list[str] = field(default_factory=list)


def predict_files(
    model,
    paths: Sequence[str | os.PathLike],
    out: str | os.PathLike,
    *,
    keep_all: bool = False,
    **predict,
) -> PredictionRun:
    """Predict every row of ``paths`` with ``model`` and write the table to ``out``.

    ``model`` has ``prepare(path) -> (frame, raw)`` and ``predict_frame(frame,
    prepared=True, **predict)`` (:class:`aares.genre.model.GenreModel`,
    :class:`aares.popularity.model.PopularityModel`); ``predict`` holds their options
    (``top``, ``eps``). Nothing is written when any file fails.
    """
    if not paths:
        raise ValueError("give at least one file to predict")
    parts, notes = [], []
    for path in paths:
        with warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always")
            frame, raw = model.prepare(path)
            pred = model.predict_frame(frame, prepared=True, **predict)
        notes += [str(w.message) for w in seen if issubclass(w.category, UserWarning)]
        passed = raw if keep_all else raw[id_columns(raw)]
        if passed.shape[1] == 0:
            # nothing names the songs: the line number in the file does
            passed = pd.DataFrame({"row": range(1, len(raw) + 1)})
        clash = [c for c in passed.columns if c in pred.columns]
        passed = passed.rename(columns={c: f"input_{c}" for c in clash})
        part = pd.concat([passed.reset_index(drop=True), pred.reset_index(drop=True)], axis=1)
        if len(paths) > 1:
            part.insert(0, "file", str(path))
        parts.append(part)
    table = pd.concat(parts, ignore_index=True)
    return PredictionRun(table, write_table(table, out), notes)
