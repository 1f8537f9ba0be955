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

import importlib
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from aares.tables import id_columns, write_table

__all__ = ["PredictionRun", "predict_files", "predict_job", "show_card"]


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
        # true values the model can be scored against (popularity) come along too
        known = [c for c in raw.columns if c.strip().lower() in getattr(model, "passthrough", ())]
        passed = raw if keep_all else raw[id_columns(raw) + known]
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


def predict_job(
    kind: str, files: Sequence[str | os.PathLike], model_path, out, **options
) -> PredictionRun:
    """``aares KIND predict FILE...``: load the model, predict, print the notes (stderr).

    ``kind`` is ``"genre"`` or ``"popularity"``; ``options`` go to :func:`predict_files`.
    """
    from aares.console import console

    model = importlib.import_module(f"aares.{kind}").load_model(model_path)
    run = predict_files(model, files, out, **options)
    for note in run.notes:
        console.print(f"[yellow]warning:[/] {note}", highlight=False)
    t = run.table
    if "genre" in t:
        top = t["genre"].value_counts().head(5)
        what = "most frequent: " + ", ".join(f"{g} {n}" for g, n in top.items())
    else:
        what = f"mean predicted popularity {t['popularity_predicted'].mean():.1f}"
        if "popularity" in t:
            from sklearn.metrics import r2_score

            truth = pd.to_numeric(t["popularity"], errors="coerce")
            ok = truth.notna()
            if ok.sum() > 1:
                r2 = r2_score(truth[ok], t.loc[ok, "popularity_predicted"])
                what += f"; R2 against the file's popularity {r2:.3f}"
    where = "stdout" if run.written is None else str(run.written)
    console.print(f"Predicted {len(t):,} songs; {what}. Wrote {where}", highlight=False)
    return run


def show_card(model_path, as_json: bool = False) -> dict:
    """``aares genre info MODEL``: print the model card (a table on stderr, or JSON on stdout)."""
    import json
    import sys

    from aares.console import console
    from aares.modelcard import card_summary, read_card

    card = read_card(model_path)
    if as_json:
        sys.stdout.write(json.dumps(card, indent=2) + "\n")
        return card
    from rich.table import Table

    table = Table(title=f"Model card of {model_path}", show_header=False)
    table.add_column(style="bold")
    table.add_column()
    for key, value in card_summary(card):
        table.add_row(key, value)
    console.print(table)
    return card
