"""Analysis of the Exercise 1 data: class balance, distributions, duplicates, score bound.

:func:`describe_data` computes the numbers (a :class:`DataSummary`), and
:func:`write_description` writes them as PNG figures, ``summary.txt`` and
``summary.json``. Everything is computed from the files given; nothing is canned.

Example
-------
>>> from aares.genre.describe import write_description                # doctest: +SKIP
>>> summary = write_description("data", "out/genre/describe")         # doctest: +SKIP
>>> summary.accuracy_bound                                            # doctest: +SKIP
0.99996
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from aares.data import AUDIO_FEATURES, TEST_FILE, TRAIN_FILE, data_file, load_test, load_train
from aares.io import ensure_dir, write_json, write_text
from aares.plotting import save_figure, styled, subplots

__all__ = [
    "HANDOUT_GENRES",
    "FEATURE_COLUMNS",
    "DataSummary",
    "accuracy_bound",
    "describe_data",
    "write_description",
]

#: The 23 genres the course handout lists; "trap" never occurs in the training file.
HANDOUT_GENRES = [
    "blues", "chanson", "classical", "country", "dance", "disco", "edm", "electro", "folk",
    "hip hop", "jazz", "latin", "metal", "pop", "punk", "r&b", "rap", "reggae", "rock",
    "salsa", "soul", "techno", "trap",
]  # fmt: skip

#: The columns that describe a song (everything but the label).
FEATURE_COLUMNS = [
    "release_date", "explicit", "popularity", *AUDIO_FEATURES, "time_signature",
]  # fmt: skip


@dataclass
class DataSummary:
    """What `aares genre describe` found, in numbers."""

    n_train: int
    n_test: int
    genre_counts: dict[str, int]
    missing_genres: list[str]
    unknown_genres: list[str]
    majority_share: float
    duplicate_rows_train: int
    duplicate_features_train: int
    conflicting_groups: int
    conflicting_rows: int
    accuracy_bound: float
    test_rows_in_train: int
    test_dates_in_train: float
    date_precision_share: dict[str, float]
    top_correlations: list[tuple[str, str, float]]
    figures: list[str] = field(default_factory=list)

    def text(self) -> str:
        """A short plain-text summary."""
        top = ", ".join(f"{a}~{b} {r:+.2f}" for a, b, r in self.top_correlations[:4])
        counts = sorted(self.genre_counts.items(), key=lambda kv: -kv[1])
        prec = self.date_precision_share
        lines = [
            f"Training file: {self.n_train:,} songs in {len(self.genre_counts)} genres; "
            f"challenge file: {self.n_test:,} songs.",
            f"Class balance: largest {counts[0][0]} {counts[0][1]:,} "
            f"({self.majority_share:.1%}, the majority-class score), smallest {counts[-1][0]} "
            f"{counts[-1][1]:,}.",
            (
                f"The handout lists {len(HANDOUT_GENRES)} genres; not in the training file: "
                f"{', '.join(self.missing_genres) or 'none'}. aares predicts only genres seen in "
                "training, so these are never predicted."
            ),
            f"Release dates: {prec.get('day', 0):.1%} full dates, {prec.get('month', 0):.1%} "
            f"year-month, {prec.get('year', 0):.1%} year only.",
            f"Exact duplicate rows in training: {self.duplicate_rows_train}; songs whose features "
            f"repeat another training song: {self.duplicate_features_train}.",
            f"Identical features with different genres: {self.conflicting_groups} groups, "
            f"{self.conflicting_rows} songs; best possible accuracy on the training file "
            f"{self.accuracy_bound:.4f}"
            + (
                ", so duplicates do not limit the score: the genres themselves overlap."
                if self.conflicting_rows == 0
                else f": no model can score above {self.accuracy_bound:.4f} on these songs."
            ),
            f"Challenge songs identical to a training song: {self.test_rows_in_train}; "
            "challenge songs whose release date occurs in training: "
            f"{self.test_dates_in_train:.1%}.",
            f"Strongest correlations: {top}.",
        ]
        if self.unknown_genres:
            lines.append(f"Genres not in the handout: {', '.join(self.unknown_genres)}.")
        return "\n".join(lines) + "\n"


def accuracy_bound(features: pd.DataFrame, labels: pd.Series) -> tuple[float, int, int]:
    """Best accuracy any classifier can reach when identical inputs get one answer.

    Rows with the same feature vector must receive the same prediction, so within such a
    group at most the most common genre is right.

    Returns
    -------
    bound : float
        Highest reachable accuracy on these rows.
    groups : int
        Number of groups of identical features holding more than one genre.
    rows : int
        Rows in those groups.

    Examples
    --------
    >>> f = pd.DataFrame({"a": [1, 1, 1, 2]})
    >>> accuracy_bound(f, pd.Series(["x", "x", "y", "z"]))
    (0.75, 1, 3)
    """
    key = pd.util.hash_pandas_object(features, index=False)
    frame = pd.DataFrame({"key": key.to_numpy(), "label": labels.to_numpy()})
    per_group = frame.groupby("key")["label"].agg(["size", "nunique"])
    best = frame.groupby(["key", "label"]).size().groupby(level=0).max()
    bound = float(best.sum() / len(frame))
    conflict = per_group["nunique"] > 1
    return bound, int(conflict.sum()), int(per_group.loc[conflict, "size"].sum())


def describe_data(train: pd.DataFrame, test: pd.DataFrame | None = None) -> DataSummary:
    """Compute the numbers of the analysis from the loaded training (and test) frames."""
    counts = train["genre"].value_counts()
    feats = train[FEATURE_COLUMNS]
    bound, n_groups, n_rows = accuracy_bound(feats, train["genre"])
    precision = train["release_date"].str.count("-").map({0: "year", 1: "month", 2: "day"})
    corr = _numeric(train).corr()
    pairs = [
        (a, b, float(corr.loc[a, b]))
        for i, a in enumerate(corr.columns)
        for b in corr.columns[i + 1 :]
        if np.isfinite(corr.loc[a, b])
    ]
    pairs.sort(key=lambda p: -abs(p[2]))
    n_test = 0 if test is None else len(test)
    in_train, dates_in = 0, 0.0
    if test is not None:
        seen = set(pd.util.hash_pandas_object(feats, index=False))
        in_train = int(
            pd.util.hash_pandas_object(test[FEATURE_COLUMNS], index=False).isin(seen).sum()
        )
        dates_in = float(test["release_date"].isin(set(train["release_date"])).mean())
    return DataSummary(
        n_train=len(train),
        n_test=n_test,
        genre_counts={str(k): int(v) for k, v in counts.items()},
        missing_genres=sorted(set(HANDOUT_GENRES) - set(counts.index)),
        unknown_genres=sorted(set(counts.index) - set(HANDOUT_GENRES)),
        majority_share=float(counts.iloc[0] / len(train)),
        duplicate_rows_train=int(train.duplicated().sum()),
        duplicate_features_train=int(feats.duplicated().sum()),
        conflicting_groups=n_groups,
        conflicting_rows=n_rows,
        accuracy_bound=bound,
        test_rows_in_train=in_train,
        test_dates_in_train=dates_in,
        date_precision_share={
            str(k): float(v) for k, v in precision.value_counts(normalize=True).items()
        },
        top_correlations=pairs[:10],
    )


def _numeric(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame[["popularity", *AUDIO_FEATURES]].astype(float).copy()
    out["duration_min"] = out.pop("duration_ms") / 60_000
    out["explicit"] = frame["explicit"].astype(float)
    out["year"] = pd.to_numeric(frame["release_date"].str[:4], errors="coerce")
    return out


# ----------------------------------------------------------------------------- figures


@styled
def plot_class_balance(train: pd.DataFrame, path: Path) -> Path:
    counts = train["genre"].value_counts()
    fig, ax = subplots(figsize=(9, 4))
    ax.bar(counts.index, counts.to_numpy(), color="tab:blue")
    ax.set_ylabel("songs")
    ax.set_title(f"Genres in the training file ({len(train):,} songs; 'trap' never occurs)")
    ax.tick_params(axis="x", rotation=60)
    return save_figure(fig, path)


@styled
def plot_distributions(train: pd.DataFrame, path: Path) -> Path:
    num = _numeric(train)
    order = train.groupby("genre")["popularity"].median().sort_values().index
    cols = list(num.columns)
    ncol = 4
    nrow = int(np.ceil(len(cols) / ncol))
    fig, axes = subplots(nrow, ncol, figsize=(16, 3.2 * nrow))
    for ax, col in zip(axes.flat, cols, strict=False):
        data = [num.loc[train["genre"] == g, col].dropna().to_numpy() for g in order]
        ax.boxplot(data, showfliers=False)
        ax.set_xticks(range(1, len(order) + 1), order, rotation=90, fontsize=7)
        ax.set_title(col, fontsize=10)
    for ax in list(axes.flat)[len(cols) :]:
        ax.axis("off")
    fig.suptitle("Feature distributions by genre (genres sorted by median popularity)")
    fig.tight_layout()
    return save_figure(fig, path)


@styled
def plot_correlations(train: pd.DataFrame, path: Path) -> Path:
    corr = _numeric(train).corr()
    fig, ax = subplots(figsize=(8, 7))
    im = ax.imshow(corr.to_numpy(), cmap="RdBu_r", vmin=-1, vmax=1)
    ax.set_xticks(range(len(corr)), corr.columns, rotation=90)
    ax.set_yticks(range(len(corr)), corr.columns)
    ax.grid(False)
    for i in range(len(corr)):
        for j in range(len(corr)):
            ax.text(j, i, f"{corr.iat[i, j]:.1f}", ha="center", va="center", fontsize=6)
    fig.colorbar(im, ax=ax, shrink=0.8)
    ax.set_title("Pearson correlation of the features")
    return save_figure(fig, path)


@styled
def plot_release_dates(train: pd.DataFrame, path: Path) -> Path:
    precision = train["release_date"].str.count("-").map({0: "year", 1: "year-month", 2: "full"})
    share = pd.crosstab(train["genre"], precision, normalize="index")
    share = share.reindex(columns=["full", "year-month", "year"], fill_value=0)
    share = share.sort_values("full")
    year = pd.to_numeric(train["release_date"].str[:4])
    fig, (ax1, ax2) = subplots(1, 2, figsize=(14, 5))
    share.plot.barh(stacked=True, ax=ax1, color=["tab:green", "tab:orange", "tab:red"])
    ax1.set_xlabel("share of songs")
    ax1.set_title("Release-date precision by genre")
    # below the axes: inside, the legend would hide the bars of the top genres
    ax1.legend(title="release_date", loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=3)
    order = train.groupby("genre").size().sort_values(ascending=False).index[:8]
    for g in order:
        ax2.hist(year[train["genre"] == g], bins=np.arange(1950, 2024, 2), histtype="step",
                 density=True, label=g)  # fmt: skip
    ax2.set_xlabel("release year")
    ax2.set_title("Release year of the 8 largest genres")
    ax2.legend(fontsize=8)
    return save_figure(fig, path)


def write_description(
    data_dir: str | os.PathLike | None, out_dir: str | os.PathLike
) -> DataSummary:
    """Load the course files, analyse them and write figures + summary under ``out_dir``."""
    out = ensure_dir(out_dir)
    train = load_train(data_file(TRAIN_FILE, data_dir))
    test = load_test(data_file(TEST_FILE, data_dir), train=train)
    summary = describe_data(train, test)
    figures = [
        plot_class_balance(train, out / "class_balance.png"),
        plot_distributions(train, out / "distributions_by_genre.png"),
        plot_correlations(train, out / "correlations.png"),
        plot_release_dates(train, out / "release_dates.png"),
    ]
    summary.figures = [str(p) for p in figures]
    write_text(out / "summary.txt", summary.text())
    write_json(out / "summary.json", asdict(summary))
    return summary
