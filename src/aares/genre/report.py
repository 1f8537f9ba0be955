"""The Exercise 1 section of the Part 1 report, built from this run's outputs.

:func:`report_section` reuses what ``aares run-all`` and ``aares genre compare`` wrote under
``out_dir/genre/`` (the analysis, the model facts, the comparison table and confusion
matrix) and computes the analysis itself when it is missing. No number is canned.

Example
-------
>>> from aares.genre.report import report_section               # doctest: +SKIP
>>> section = report_section("data", "out")                     # doctest: +SKIP
>>> section.title                                               # doctest: +SKIP
'Exercise 1: genre classification'
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from aares.genre.describe import write_description
from aares.genre.models import BALANCED_STRENGTH, BEST_MODEL, ENSEMBLES, MODEL_NAMES
from aares.io import read_json
from aares.report.section import Figure, Section, Table, Text

__all__ = ["report_section"]


def report_section(data_dir: str | os.PathLike, out_dir: str | os.PathLike) -> Section:
    """Section "Exercise 1: genre classification" from the outputs under ``out_dir/genre``."""
    root = Path(out_dir) / "genre"
    describe_dir = root / "describe"
    if (describe_dir / "summary.json").is_file():
        summary = read_json(describe_dir / "summary.json")
        text = (describe_dir / "summary.txt").read_text(encoding="utf-8")
    else:
        obj = write_description(data_dir, describe_dir)
        summary, text = {"figures": obj.figures}, obj.text()
    blocks: list = [Text("Data analysis.\n\n" + text)]
    captions = {
        "class_balance.png": "Songs per genre in the training file.",
        "release_dates.png": "Release-date precision by genre, and release years.",
        "distributions_by_genre.png": "Feature distributions by genre.",
        "correlations.png": "Correlation between the features.",
    }
    for fig in summary.get("figures", []):
        name = Path(fig).name
        if Path(fig).is_file():
            blocks.append(Figure(Path(fig), captions.get(name, name)))

    members = ", ".join(f"{m} ({w:g})" for m, w in ENSEMBLES.get(BEST_MODEL, ()))
    method = (
        "Every model is a scikit-learn pipeline: release-date parts (year, month, day, "
        "precision, weekday, 1 January placeholder), duration in minutes, ratios, popularity "
        "relative to the release year, and the genre profile of each release date (songs of "
        "one album share it), learned by cross-fitted target encoding so that no training "
        f"song sees its own genre. The best model, {BEST_MODEL}, averages the probabilities "
        f"of {members or BEST_MODEL}. Only genres present in the training file can be "
        "predicted. The balanced mode divides the probabilities by the class share to the "
        f"power {BALANCED_STRENGTH:g}."
    )
    blocks.append(Text(method))

    scores_csv = root / "compare" / "scores.csv"
    if scores_csv.is_file():
        scores = pd.read_csv(scores_csv, index_col="model")
        blocks.append(
            Table(
                scores,
                "Stratified cross-validation (fixed seed): F1-micro is the challenge metric; "
                "log loss scores the probabilities (lower is better); fit time in seconds "
                "per fold.",
            )
        )
        missing = [m for m in MODEL_NAMES if m not in scores.index]
        if missing:
            blocks.append(
                Text(
                    f"Not cross-validated in this job: {', '.join(missing)}; `aares genre "
                    "compare` runs every model (the full table is in BENCHMARKS.md)."
                )
            )
        for png in sorted((root / "compare").glob("confusion_*.png")):
            blocks.append(Figure(png, "Out-of-fold confusion matrix (rows: true genre)."))
    else:
        blocks.append(
            Text(
                "The model comparison was not run in this job; run `aares genre compare "
                f"--out {root / 'compare'}` to add the table."
            )
        )
    model_json = root / "model.json"
    settings = {"best model": BEST_MODEL, "balanced strength": f"{BALANCED_STRENGTH:g}"}
    if model_json.is_file():
        info = read_json(model_json)
        counts = info.get("predicted_counts", {})
        top = ", ".join(f"{g} {n}" for g, n in list(counts.items())[:6])
        blocks.append(
            Text(
                f"Challenge: {info.get('predicted', '?')} songs predicted by {info.get('model')} "
                f"(trained in {info.get('fit_seconds', '?')} s); most frequent: {top}. Files: "
                f"{root / 'spotify_dataset_test.csv'} and {root / 'genre.csv'}."
            )
        )
        settings["fit seconds"] = str(info.get("fit_seconds"))
    return Section("Exercise 1: genre classification", blocks, settings)
