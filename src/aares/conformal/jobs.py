"""Conformal jobs: the analysis as a step of ``aares run-all``, and the course's features."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from aares.console import console
from aares.data import TRAIN_FILE, data_file, load_train

__all__ = ["RUN_ALL_MODEL", "course_features", "run_all_step"]


def course_features(train: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Standardised numeric columns of the training file and the genres (the course's kNN)."""
    num = train.drop(columns=["genre", "release_date"]).astype(float)
    X = ((num - num.mean()) / num.std(ddof=0).replace(0, 1)).to_numpy()
    return X, train["genre"].to_numpy()


#: The model of the run-all step (fitted once; the full analysis uses `--model best`).
RUN_ALL_MODEL = "lightgbm"


def run_all_step(data_dir: Path, out_dir: Path) -> None:
    """Part of `aares run-all`: the analysis with a quick model, into out_dir/conformal."""
    from aares.conformal.analysis import write_analysis

    train = load_train(data_file(TRAIN_FILE, data_dir))
    summary = write_analysis(
        train, Path(out_dir) / "conformal", model=RUN_ALL_MODEL, cv="split", deals=20
    )
    m = summary["methods"][summary["marginal_method"]]
    console.print(
        f"conformal ({summary['model']}): coverage {m['coverage']:.3f}, mean set size "
        f"{m['mean_size']:.2f} at eps = {summary['eps']:g}"
    )
