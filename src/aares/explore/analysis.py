"""A data scientist's tour of the course data: figures plus interpretations computed from it.

Each step of the tour is a small function ``frame(s) -> Finding``: it draws one figure and
writes two or three sentences whose numbers, and whose direction ("rose", "fell", "higher",
"lower"), are read from the data, never typed in. :func:`run_tour` runs every step on the
Exercise 2 subset (``spotify_dataset_subset.csv``) and, where genre labels help, on the
Exercise 1 training file (its 22 genres), saves the PNG figures under ``out_dir/explore/``
and a ``tour.json`` index that the report reuses.

Example
-------
>>> from aares.explore.analysis import run_tour                  # doctest: +SKIP
>>> tour = run_tour("data", "out")                               # doctest: +SKIP
>>> print(tour.findings[0].text)                                 # doctest: +SKIP
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd

from aares.console import progress
from aares.data import (
    CONTINUOUS_FEATURES,
    SUBSET_FILE,
    TRAIN_FILE,
    load_subset,
    load_train,
    parse_release_date,
)
from aares.data import (
    data_dir as resolve_data_dir,
)
from aares.io import ensure_dir, read_json, write_json
from aares.plotting import figure, save_figure, styled, subplots

__all__ = [
    "Finding",
    "Tour",
    "TourSettings",
    "run_tour",
    "load_tour",
    "feature_distributions",
    "popularity_distribution",
    "decades",
    "popularity_by_decade",
    "correlations",
    "song_map",
    "genre_popularity_explicit",
    "prolific_artists",
    "micro_genre_count",
]

#: Units shown on axes; features without an entry are unitless scores in [0, 1].
UNITS = {
    "loudness": "dB",
    "tempo": "BPM",
    "duration_min": "minutes",
    "key": "pitch class 0-11",
    "mode": "0 = minor, 1 = major",
    "popularity": "0-100",
}

#: Continuous features used for maps and trends (``key`` and ``mode`` are categorical).
CONTINUOUS = [*CONTINUOUS_FEATURES, "duration_min"]

TOUR_FILE = "tour.json"


@dataclass
class Finding:
    """One step of the tour: a figure, its caption, the computed interpretation, a table."""

    key: str
    title: str
    figure: Path
    caption: str
    text: str
    table: pd.DataFrame | None = None


@dataclass
class TourSettings:
    """What the tour was computed with (stored with it, so a rerun can reuse it)."""

    map_method: str = "tsne"
    map_sample: int = 2000
    min_decade_songs: int = 30
    top_artists: int = 15
    seed: int = 0

    def __post_init__(self) -> None:
        if self.map_method not in ("tsne", "pca"):
            raise ValueError(f"map method must be 'tsne' or 'pca', got {self.map_method!r}")
        if self.map_sample < 20:
            raise ValueError(f"map sample must be at least 20 songs, got {self.map_sample}")


@dataclass
class Tour:
    """Every finding of a run, the settings, and the data files it read."""

    findings: list[Finding]
    settings: TourSettings
    files: dict[str, dict] = field(default_factory=dict)


# ----------------------------------------------------------------------------- helpers


def _label(name: str) -> str:
    unit = UNITS.get(name, "0-1")
    return f"{name.removesuffix('_min').replace('_', ' ')} ({unit})"


def _pct(x: float) -> str:
    return f"{100 * x:.0f} %"


def _num(x: float) -> str:
    """A number with as many digits as it deserves (0.123, 12.3, 123)."""
    ax = abs(x)
    if ax >= 100:
        return f"{x:.0f}"
    if ax >= 10:
        return f"{x:.1f}"
    if ax >= 1:
        return f"{x:.2f}"
    return f"{x:.3f}" if ax < 0.1 else f"{x:.2f}"


def _join(items: list[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def prepare(frame: pd.DataFrame) -> pd.DataFrame:
    """Add ``year``, ``decade`` and ``duration_min`` columns used across the tour."""
    out = frame.copy()
    year = parse_release_date(out["release_date"])["year"]
    out["year"] = year
    out["decade"] = (year // 10 * 10).astype("Int64")
    out["duration_min"] = out["duration_ms"] / 60_000
    return out


# ----------------------------------------------------------------------------- the steps


@styled
def feature_distributions(songs: pd.DataFrame, out: Path) -> Finding:
    """Histograms of the audio features, with the most skewed ones named."""
    feats = CONTINUOUS + ["key"]
    fig, axes = subplots(3, 4, figsize=(11.5, 7.6))
    for ax, f in zip(axes.ravel(), feats, strict=False):
        values = songs[f].dropna()
        bins = np.arange(-0.5, 12.5) if f == "key" else 40
        ax.hist(values, bins=bins, color="#3b75af", edgecolor="white", linewidth=0.3)
        if f != "key":  # a pitch class has no meaningful median
            ax.axvline(values.median(), color="#d62728", linewidth=1.2, label="median")
        ax.set_xlabel(_label(f))
        ax.set_ylabel("songs")
    axes.ravel()[0].legend(loc="upper left")
    share_major = songs["mode"].mean()
    ax = axes.ravel()[len(feats)]
    ax.bar(["minor", "major"], [1 - share_major, share_major], color=["#8c6bb1", "#41ab5d"])
    ax.set_ylabel("share of songs")
    ax.set_xlabel("mode")
    fig.suptitle(f"Distributions of the audio features ({len(songs):,} songs)", weight="bold")
    fig.tight_layout()
    path = save_figure(fig, out / "feature_distributions.png")

    skew = songs[CONTINUOUS].skew().sort_values(ascending=False)
    top = [f for f in skew.index[:3]]
    zero_instr = (songs["instrumentalness"] < 0.01).mean()
    text = (
        f"The most skewed features are {_join(top)} (skewness "
        f"{_join([_num(skew[f]) for f in top])}): long right tails over a bulk of typical "
        f"values. Instrumentalness piles up at zero ({_pct(zero_instr)} of the songs are below "
        f"0.01){': most songs have vocals' if zero_instr > 0.5 else ''}. The median song lasts "
        f"{_num(songs['duration_min'].median())} minutes, plays at "
        f"{_num(songs['tempo'].median())} BPM and {_num(songs['loudness'].median())} dB; "
        f"{_pct(share_major)} are in a major key. "
        "Skewed features are worth a log or rank transform for linear models."
    )
    table = (
        songs[CONTINUOUS]
        .describe()
        .T[["mean", "std", "min", "50%", "max"]]
        .rename(columns={"50%": "median"})
        .assign(skewness=skew)
    )
    table.index.name = "feature"
    return Finding(
        "feature_distributions",
        "Distributions of the audio features",
        path,
        "Histograms of the audio features (red line: median).",
        text,
        table,
    )


@styled
def popularity_distribution(songs: pd.DataFrame, out: Path) -> Finding:
    """Histogram of popularity, with the spike at 0 measured."""
    pop = songs["popularity"]
    zero = (pop == 0).mean()
    nonzero = pop[pop > 0]
    fig, ax = subplots(figsize=(8, 4.2))
    ax.hist(pop, bins=np.arange(-0.5, 101.5, 2), color="#3b75af", edgecolor="white", lw=0.3)
    ax.axvline(pop.mean(), color="#d62728", label=f"mean {pop.mean():.1f}")
    ax.axvline(
        nonzero.median(),
        color="#ff7f0e",
        ls="--",
        label=f"median of non-zero {nonzero.median():.0f}",
    )
    ax.set_xlabel(_label("popularity"))
    ax.set_ylabel("songs")
    ax.set_title(f"Popularity of {len(pop):,} songs")
    ax.legend()
    path = save_figure(fig, out / "popularity_distribution.png")
    no_genre = songs["genres"].map(len).eq(0) if "genres" in songs else None
    extra = ""
    if no_genre is not None and no_genre.any():
        zero_none = (pop[no_genre] == 0).mean()
        extra = (
            f" Of the songs without any micro-genre, {_pct(zero_none)} are at 0 "
            f"({_num(zero_none / max(zero, 1e-9))} times the overall share)."
        )
    text = (
        f"{_pct(zero)} of the songs have popularity 0, a spike that no smooth distribution "
        f"explains: a model should treat these apart. The other songs spread around a median of "
        f"{nonzero.median():.0f} (middle half {nonzero.quantile(0.25):.0f}-"
        f"{nonzero.quantile(0.75):.0f}); only {_pct((pop >= 70).mean())} reach 70 or more." + extra
    )
    return Finding(
        "popularity_distribution",
        "Popularity",
        path,
        "Histogram of Spotify popularity (0-100).",
        text,
    )


def _decade_means(songs: pd.DataFrame, cols: list[str], min_songs: int) -> pd.DataFrame:
    counts = songs["decade"].value_counts()
    keep = counts[counts >= min_songs].index
    kept = songs[songs["decade"].isin(keep)]
    return kept.groupby("decade")[cols].mean().sort_index()


@styled
def decades(songs: pd.DataFrame, out: Path, min_songs: int = 30) -> Finding:
    """Mean audio features per decade; names the features that moved the most."""
    unit_feats = ["acousticness", "energy", "danceability", "valence", "speechiness"]
    means = _decade_means(songs, unit_feats + ["loudness", "duration_min"], min_songs)
    if len(means) < 2:
        raise ValueError(
            f"fewer than two decades with at least {min_songs} songs; cannot show trends"
        )
    counts = songs["decade"].value_counts().reindex(means.index)
    labels = [f"{int(d)}s" for d in means.index]
    x = np.arange(len(means))
    fig = figure(figsize=(12, 8.5))
    grid = fig.add_gridspec(2, 2, height_ratios=[1.2, 1])
    a1 = fig.add_subplot(grid[0, :])
    a2, a3 = fig.add_subplot(grid[1, 0]), fig.add_subplot(grid[1, 1])
    for f in unit_feats:
        a1.plot(x, means[f], marker="o", label=f)
    a1.set_ylabel("mean score (0-1)")
    a1.set_title("Audio features by decade")
    a1.legend(fontsize=9, ncols=len(unit_feats), loc="upper center")
    a1.set_ylim(0, 1)
    a2.plot(x, means["loudness"], marker="o", color="#d62728", label="loudness")
    a2.set_ylabel("mean loudness (dB)")
    a2b = a2.twinx()
    a2b.plot(x, means["duration_min"], marker="s", color="#2ca02c", label="duration")
    a2b.set_ylabel("mean duration (minutes)")
    a2b.grid(False)
    a2.set_title("Loudness and duration by decade")
    a2.legend(a2.get_lines() + a2b.get_lines(), ["loudness", "duration"], fontsize=8, loc="best")
    a3.bar(x, counts.to_numpy(), color="#7f7f7f")
    a3.set_ylabel("songs")
    a3.set_title("Songs per decade")
    for ax in (a1, a2, a3):
        ax.set_xticks(x, labels, rotation=45)
        ax.set_xlabel("release decade")
    fig.tight_layout()
    path = save_figure(fig, out / "decades.png")

    first, last = means.index[0], means.index[-1]
    change = means.loc[last, unit_feats] - means.loc[first, unit_feats]
    order = change.abs().sort_values(ascending=False).index
    moves = [
        f"{f} {'rose' if change[f] > 0 else 'fell'} from {_num(means.loc[first, f])} to "
        f"{_num(means.loc[last, f])}"
        for f in order[:2]
    ]
    dl = means.loc[last, "loudness"] - means.loc[first, "loudness"]
    dropped = int(songs["decade"].notna().sum() - counts.sum())
    text = (
        f"From the {int(first)}s to the {int(last)}s, {_join(moves)}, the largest shifts among "
        f"the 0-1 features. Songs got {'louder' if dl > 0 else 'quieter'} by {abs(dl):.1f} dB on "
        f"average, and the mean duration went from {_num(means.loc[first, 'duration_min'])} to "
        f"{_num(means.loc[last, 'duration_min'])} minutes. "
        f"{_pct(counts.loc[means.index[-2:]].sum() / counts.sum())} of the songs were released in "
        f"the last two decades shown, so older decades rest on few songs"
        + (
            f" ({dropped} songs from decades with fewer than {min_songs} songs are left out)."
            if dropped
            else "."
        )
    )
    table = means.round(3)
    table.index = pd.Index(labels, name="decade")
    table.insert(0, "songs", counts.to_numpy())
    return Finding(
        "decades",
        "Features over the decades",
        path,
        "Mean audio features, loudness and duration per release decade.",
        text,
        table,
    )


@styled
def popularity_by_decade(songs: pd.DataFrame, out: Path, min_songs: int = 30) -> Finding:
    """Popularity and the share of zero-popularity songs per release decade."""
    counts = songs["decade"].value_counts()
    kept = songs[songs["decade"].isin(counts[counts >= min_songs].index)]
    g = kept.groupby("decade")["popularity"]
    stats = pd.DataFrame(
        {
            "songs": g.size(),
            "mean": g.mean(),
            "median": g.median(),
            "share_zero": g.apply(lambda p: (p == 0).mean()),
            "mean_nonzero": g.apply(lambda p: p[p > 0].mean()),
        }
    ).sort_index()
    labels = [f"{int(d)}s" for d in stats.index]
    x = np.arange(len(stats))
    fig, ax = subplots(figsize=(9, 4.3))
    ax.bar(x, stats["mean"], color="#3b75af", label="mean popularity")
    ax.plot(x, stats["mean_nonzero"], marker="o", color="#ff7f0e", label="mean of non-zero songs")
    ax.set_xticks(x, labels)
    ax.set_xlabel("release decade")
    ax.set_ylabel(_label("popularity"))
    ax2 = ax.twinx()
    ax2.plot(x, 100 * stats["share_zero"], marker="s", color="#d62728", ls="--", label="share at 0")
    ax2.set_ylabel("songs with popularity 0 (%)")
    ax2.set_ylim(0, 100)
    ax2.grid(False)
    ax.set_title("Popularity by release decade")
    ax.legend(
        ax.get_legend_handles_labels()[0] + ax2.get_lines(),
        ["mean popularity", "mean of non-zero songs", "share at 0 (%)"],
        fontsize=8,
        loc="upper left",
    )
    path = save_figure(fig, out / "popularity_by_decade.png")

    best, worst = stats["mean"].idxmax(), stats["mean"].idxmin()
    last = stats.index[-1]
    zmax = stats["share_zero"].idxmax()
    text = (
        f"Songs from the {int(best)}s are the most popular on average "
        f"({stats.loc[best, 'mean']:.1f}), those from the {int(worst)}s the least "
        f"({stats.loc[worst, 'mean']:.1f}). The share of songs at popularity 0 is highest in "
        f"the {int(zmax)}s ({_pct(stats.loc[zmax, 'share_zero'])}), against "
        f"{_pct(stats.loc[last, 'share_zero'])} in the {int(last)}s: popularity measures current "
        "streams, so recency matters, and the release year is a useful feature."
    )
    table = stats.round(3)
    table.index = pd.Index(labels, name="decade")
    return Finding(
        "popularity_by_decade",
        "Popularity over the decades",
        path,
        "Mean popularity, mean of non-zero songs and share of zeros per decade.",
        text,
        table,
    )


@styled
def correlations(songs: pd.DataFrame, out: Path) -> Finding:
    """Spearman correlation heat map of features, year and popularity."""
    cols = CONTINUOUS + ["year", "popularity"]
    corr = songs[cols].corr(method="spearman")
    fig, ax = subplots(figsize=(8.5, 7))
    im = ax.imshow(corr.to_numpy(), cmap="RdBu_r", vmin=-1, vmax=1)
    ax.set_xticks(range(len(cols)), cols, rotation=60, ha="right")
    ax.set_yticks(range(len(cols)), cols)
    ax.grid(False)
    for i in range(len(cols)):
        for j in range(len(cols)):
            v = corr.iloc[i, j]
            ax.text(
                j,
                i,
                f"{v:.2f}",
                ha="center",
                va="center",
                fontsize=7,
                color="white" if abs(v) > 0.6 else "black",
            )
    fig.colorbar(im, ax=ax, label="Spearman correlation (-1 to 1)", shrink=0.8)
    ax.set_title("Rank correlations between features, release year and popularity")
    path = save_figure(fig, out / "correlations.png")

    upper = corr.where(np.triu(np.ones(corr.shape, dtype=bool), k=1)).stack()
    pairs = upper.drop([p for p in upper.index if "popularity" in p], errors="ignore")
    top = pairs.abs().sort_values(ascending=False).index[:3]
    pop = corr["popularity"].drop("popularity")
    pos, neg = pop.idxmax(), pop.idxmin()
    text = (
        "The strongest links between features are "
        + _join([f"{a}-{b} ({pairs[(a, b)]:+.2f})" for a, b in top])
        + ". Popularity correlates most positively with "
        f"{pos} ({pop[pos]:+.2f}) and most negatively with {neg} ({pop[neg]:+.2f}); no single "
        f"feature reaches |rho| = {max(abs(pop[pos]), abs(pop[neg])) + 0.01:.2f}, so popularity "
        "is at best a weak function of any one audio feature."
    )
    return Finding(
        "correlations",
        "Correlations",
        path,
        "Spearman rank correlations (robust to the skewed features).",
        text,
    )


def _palette(n: int) -> list:
    cmap = matplotlib.colormaps["tab20"]
    extra = matplotlib.colormaps["Dark2"]
    # the 10 strong colours of tab20 first (for the most frequent genres), then the pale ones
    colors = [cmap(i) for i in range(0, 20, 2)] + [cmap(i) for i in range(1, 20, 2)]
    colors += [extra(i) for i in range(8)]
    return colors[:n]


def _knn_purity(x: np.ndarray, labels: np.ndarray, k: int = 10) -> pd.Series:
    """Per label: the mean share of a song's k nearest neighbours that share its label."""
    from sklearn.neighbors import NearestNeighbors

    nn = NearestNeighbors(n_neighbors=k + 1).fit(x)
    idx = nn.kneighbors(x, return_distance=False)[:, 1:]
    same = (labels[idx] == labels[:, None]).mean(axis=1)
    return pd.Series(same).groupby(labels).mean()


@styled
def song_map(
    songs: pd.DataFrame,
    out: Path,
    label: str = "genre",
    method: str = "tsne",
    sample: int = 2000,
    seed: int = 0,
    max_iter: int = 1000,
) -> Finding:
    """A 2-D map of songs (PCA and t-SNE) coloured by genre, with genre separability measured.

    ``method`` is ``"tsne"`` (scikit-learn's t-SNE, ``max_iter`` iterations) or ``"pca"``
    (PCA only, fast). At most ``sample`` songs are drawn, stratified by ``label``.
    """
    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE
    from sklearn.preprocessing import StandardScaler

    if method not in ("tsne", "pca"):
        raise ValueError(f"map method must be 'tsne' or 'pca', got {method!r}")
    data = songs.dropna(subset=CONTINUOUS + [label])
    if len(data) > sample:
        # stratified sample: every genre keeps its share
        frac = sample / len(data)
        data = data.groupby(label, group_keys=False).sample(frac=frac, random_state=seed)
    feats = data[CONTINUOUS].copy()
    feats["duration_min"] = np.log(feats["duration_min"].clip(lower=0.1))
    x = StandardScaler().fit_transform(feats.to_numpy())
    labels = data[label].astype(str).to_numpy()
    genres = pd.Series(labels).value_counts().index.tolist()
    colors = dict(zip(genres, _palette(len(genres)), strict=False))

    pca = PCA(n_components=2, random_state=seed).fit(x)
    maps = {"PCA": pca.transform(x)}
    if method == "tsne":
        from threadpoolctl import threadpool_limits

        perplexity = float(min(30, max(5, (len(x) - 1) // 4)))
        tsne = TSNE(
            n_components=2, perplexity=perplexity, init="pca", random_state=seed, max_iter=max_iter
        )
        # One OpenMP thread: t-SNE syncs its threads at each of its 1,000 steps, and on a busy
        # machine that costs more than it gains (measured: 40 s against 131 s wall, 2 cores).
        with threadpool_limits(1, user_api="openmp"):
            maps["t-SNE"] = tsne.fit_transform(x)
    # A narrow canvas with the legend below keeps the text readable at the PDF's page width.
    fig, axes = subplots(1, len(maps), figsize=(5 * len(maps), 6.2), squeeze=False)
    for ax, (name, xy) in zip(axes[0], maps.items(), strict=True):
        for g in genres:
            m = labels == g
            ax.scatter(xy[m, 0], xy[m, 1], s=5, alpha=0.7, color=colors[g], label=g)
        if name == "PCA":
            ev = pca.explained_variance_ratio_
            ax.set_xlabel(f"PC 1 ({_pct(ev[0])} of variance)")
            ax.set_ylabel(f"PC 2 ({_pct(ev[1])} of variance)")
        else:
            ax.set_xlabel("t-SNE 1 (no unit)")
            ax.set_ylabel("t-SNE 2 (no unit)")
        ax.set_title(f"{name} map of {len(x):,} songs")
    handles, names = axes[0, 0].get_legend_handles_labels()
    fig.legend(
        handles,
        names,
        title=label,
        loc="lower center",
        ncols=min(len(genres), 6 * len(maps) // 2 + 2),
        markerscale=3,
        fontsize=8,
        frameon=False,
    )
    rows = -(-len(genres) // min(len(genres), 6 * len(maps) // 2 + 2))
    fig.tight_layout(rect=(0, 0.04 * rows + 0.035, 1, 1))
    path = save_figure(fig, out / "song_map.png")

    purity = _knn_purity(x, labels)
    base = pd.Series(labels).value_counts(normalize=True)
    lift = (purity / base.reindex(purity.index)).sort_values(ascending=False)
    best = purity.sort_values(ascending=False)
    loading = pd.Series(pca.components_[0], index=CONTINUOUS)
    lead = loading.abs().sort_values(ascending=False).index[:2]
    text = (
        f"The two principal components keep {_pct(pca.explained_variance_ratio_[:2].sum())} of "
        f"the variance of the {len(CONTINUOUS)} standardised features; PC 1 is mostly "
        f"{_join([f'{f} ({loading[f]:+.2f})' for f in lead])}. "
        f"Genres overlap heavily: among the 10 nearest neighbours (in the full feature space) "
        f"of a {best.index[0]} song, {_pct(best.iloc[0])} are {best.index[0]} too, and "
        f"{_join([f'{g} ({_pct(best[g])})' for g in best.index[1:3]])} follow, while "
        f"{_join([f'{g} ({_pct(best[g])})' for g in best.index[-2:]])} are the most mixed. "
        f"Relative to its share of songs, {lift.index[0]} is the most distinct genre "
        f"({lift.iloc[0]:.1f} times its base rate): audio features alone separate only a few "
        "genres well."
    )
    table = pd.DataFrame(
        {
            "songs": base.reindex(best.index) * len(labels),
            "kNN same-genre share": best,
            "lift over base rate": lift.reindex(best.index),
        }
    ).astype({"songs": int})
    table.index.name = label
    return Finding(
        "song_map",
        "A map of songs by genre",
        path,
        f"PCA{' and t-SNE' if method == 'tsne' else ''} of the standardised audio features, "
        f"stratified sample of {len(x):,} songs of the training file, coloured by genre.",
        text,
        table.round(3),
    )


@styled
def genre_popularity_explicit(songs: pd.DataFrame, out: Path, label: str = "genre") -> Finding:
    """Mean popularity, share at 0 and share of explicit songs per genre."""
    g = songs.groupby(label)
    stats = pd.DataFrame(
        {
            "songs": g.size(),
            "mean popularity": g["popularity"].mean(),
            "share at 0": g["popularity"].apply(lambda p: (p == 0).mean()),
            "share explicit": g["explicit"].mean(),
        }
    )
    by_pop = stats.sort_values("mean popularity")
    by_exp = stats.sort_values("share explicit")
    fig, (a1, a2) = subplots(1, 2, figsize=(13, 0.28 * len(stats) + 2))
    y = np.arange(len(stats))
    a1.barh(y, by_pop["mean popularity"], color="#3b75af", label="mean popularity")
    a1.scatter(
        100 * by_pop["share at 0"],
        y,
        color="#d62728",
        zorder=3,
        s=14,
        label="songs at popularity 0 (%)",
    )
    a1.set_yticks(y, by_pop.index)
    a1.set_xlabel("mean popularity (0-100) / share at 0 (%)")
    a1.set_title("Popularity by genre")
    a1.legend(fontsize=8, loc="lower right")
    a2.barh(y, 100 * by_exp["share explicit"], color="#ff7f0e")
    a2.set_yticks(y, by_exp.index)
    a2.set_xlabel("explicit songs (%)")
    a2.set_title("Explicit lyrics by genre")
    fig.tight_layout()
    path = save_figure(fig, out / "genre_popularity_explicit.png")

    top, low = by_pop.index[::-1][:3], by_pop.index[:3]
    ex = by_exp.index[::-1][:3]
    overall = songs["explicit"].mean()
    rho = stats["mean popularity"].corr(stats["share at 0"], method="spearman")
    mp, se = stats["mean popularity"], stats["share explicit"]
    text = (
        f"The most popular genres on average are "
        f"{_join([f'{g} ({mp[g]:.1f})' for g in top])}; the least are "
        f"{_join([f'{g} ({mp[g]:.1f})' for g in low])}, where "
        f"{_join([_pct(stats.loc[g, 'share at 0']) for g in low])} of songs sit at 0 "
        f"(rank correlation of mean popularity with the share at 0 across genres: {rho:+.2f}). "
        f"Explicit lyrics concentrate in "
        f"{_join([f'{g} ({_pct(se[g])})' for g in ex])}, against "
        f"{_pct(overall)} over all songs."
    )
    table = stats.sort_values("mean popularity", ascending=False).round(3)
    table.index.name = label
    return Finding(
        "genre_popularity_explicit",
        "Popular and explicit genres",
        path,
        f"Per genre of the training file ({len(songs):,} songs): popularity and explicit share.",
        text,
        table,
    )


@styled
def prolific_artists(songs: pd.DataFrame, out: Path, top: int = 15) -> Finding:
    """Artists with the most songs, and how much of popularity the artist explains."""
    named = songs[songs["artist_name"].fillna("").str.strip() != ""]
    counts = named["artist_name"].value_counts()
    head = counts.head(top)[::-1]
    mean_pop = named.groupby("artist_name")["popularity"].mean()
    fig, ax = subplots(figsize=(9, 0.32 * len(head) + 1.6))
    y = np.arange(len(head))
    ax.barh(y, head.to_numpy(), color="#3b75af")
    ax.set_yticks(y, head.index)
    ax.set_xlabel("songs in the subset")
    ax.set_title(f"The {len(head)} artists with the most songs")
    for yi, (name, n) in zip(y, head.items(), strict=True):
        ax.text(n, yi, f"  mean popularity {mean_pop[name]:.0f}", va="center", fontsize=8)
    ax.set_xlim(0, head.max() * 1.45)
    path = save_figure(fig, out / "prolific_artists.png")

    # Share of popularity variance between artists (eta squared), over artists with >= 2 songs.
    multi = named[named["artist_name"].map(counts) >= 2]
    grand = multi["popularity"].mean()
    groups = multi.groupby("artist_name")["popularity"]
    between = (groups.size() * (groups.mean() - grand) ** 2).sum()
    total = ((multi["popularity"] - grand) ** 2).sum()
    eta2 = between / total if total > 0 else float("nan")
    # With few songs per artist eta squared is large even by chance: (k - 1) / (n - 1).
    chance = (groups.ngroups - 1) / max(len(multi) - 1, 1)
    single = (counts == 1).sum()
    text = (
        f"The subset has {len(counts):,} artists; {single:,} ({_pct(single / len(counts))}) "
        f"appear once, and {head.index[-1]} leads with {head.iloc[-1]} songs. "
        f"Among the {len(multi):,} songs by artists with at least two songs, the artist accounts "
        f"for {_pct(eta2)} of the variance of popularity (eta squared), against "
        f"{_pct(chance)} expected by chance for {groups.ngroups:,} artists: "
        + (
            "songs of one artist are alike in popularity, so an artist target encoding "
            "(fitted inside the folds) should help the popularity model."
            if eta2 > chance + 0.05
            else "the artist tells little about popularity beyond chance."
        )
    )
    table = pd.DataFrame(
        {"songs": counts.head(top), "mean popularity": mean_pop.reindex(counts.head(top).index)}
    ).round(1)
    table.index.name = "artist"
    return Finding(
        "prolific_artists",
        "Artists with many songs",
        path,
        "Artists with the most songs in the Exercise 2 subset, with their mean popularity.",
        text,
        table,
    )


@styled
def micro_genre_count(songs: pd.DataFrame, out: Path) -> Finding:
    """Popularity against the number of Spotify micro-genres a song carries."""
    n = songs["genres"].map(len)
    cap = 6
    bucket = n.clip(upper=cap)
    names = [str(i) for i in range(cap)] + [f"{cap}+"]
    groups = [songs.loc[bucket == i, "popularity"].to_numpy() for i in range(cap + 1)]
    present = [i for i, g in enumerate(groups) if len(g)]
    fig, ax = subplots(figsize=(9, 4.3))
    ax.boxplot([groups[i] for i in present], showfliers=False)
    ax.set_xticks(
        range(1, len(present) + 1), [f"{names[i]}\n({len(groups[i]):,})" for i in present]
    )
    ax.set_xlabel("micro-genres listed for the song (songs)")
    ax.set_ylabel(_label("popularity"))
    ax.set_title("Popularity by number of micro-genres")
    path = save_figure(fig, out / "micro_genre_count.png")

    none = n == 0
    vocab = pd.Series([g for lst in songs["genres"] for g in lst]).value_counts()
    rho = pd.Series(n).corr(songs["popularity"], method="spearman")
    pop_none = songs.loc[none, "popularity"].mean()
    pop_some = songs.loc[~none, "popularity"].mean()
    text = (
        f"{_pct(none.mean())} of the songs list no micro-genre; their mean popularity is "
        f"{pop_none:.1f} against {pop_some:.1f} for the others. "
        f"The subset uses {len(vocab):,} distinct micro-genres, "
        f"{vocab.index[0]!r} most often ({vocab.iloc[0]} songs), and a song carries "
        f"{n[~none].median():.0f} of them at the median. The rank correlation of the number of "
        f"micro-genres with popularity is {rho:+.2f}"
        + (
            ", so how many there are tells little"
            if abs(rho) < 0.1
            else f": songs with more micro-genres tend to be {'more' if rho > 0 else 'less'} "
            "popular"
        )
        + (
            "; a missing genre list, though, is itself a signal of an obscure song."
            if pop_none < pop_some
            else "; a missing genre list does not mark obscure songs here."
        )
    )
    return Finding(
        "micro_genre_count",
        "Micro-genres and popularity",
        path,
        "Box plots (no outliers) of popularity by the number of micro-genres of each song.",
        text,
    )


# ----------------------------------------------------------------------------- the whole tour


def file_info(path: Path) -> dict:
    """Name, size in bytes and modification time of a data file (to tell if a cache is stale)."""
    st = path.stat()
    return {"name": path.name, "bytes": st.st_size, "mtime_ns": st.st_mtime_ns}


def run_tour(
    data_dir: str | os.PathLike | None,
    out_dir: str | os.PathLike,
    settings: TourSettings | None = None,
    show_progress: bool = True,
) -> Tour:
    """Run every step of the tour and save figures and ``tour.json`` under ``out_dir/explore``.

    The training file (for the 22 genres) is optional: without it the genre steps are skipped.
    """
    settings = settings or TourSettings()
    folder = resolve_data_dir(data_dir)
    out = ensure_dir(Path(out_dir) / "explore")
    subset_path = folder / SUBSET_FILE
    subset = prepare(load_subset(subset_path))
    files = {"subset": file_info(subset_path)}
    train = None
    if (folder / TRAIN_FILE).is_file():
        train = prepare(load_train(folder / TRAIN_FILE))
        files["train"] = file_info(folder / TRAIN_FILE)
    steps = [
        lambda: feature_distributions(subset, out),
        lambda: popularity_distribution(subset, out),
        lambda: decades(subset, out, settings.min_decade_songs),
        lambda: popularity_by_decade(subset, out, settings.min_decade_songs),
        lambda: correlations(subset, out),
        lambda: micro_genre_count(subset, out),
        lambda: prolific_artists(subset, out, settings.top_artists),
    ]
    if train is not None:
        steps += [
            lambda: song_map(
                train, out, "genre", settings.map_method, settings.map_sample, settings.seed
            ),
            lambda: genre_popularity_explicit(train, out),
        ]
    findings = []
    with progress(transient=True) as bar:
        task = bar.add_task("explore", total=len(steps), visible=show_progress)
        for step in steps:
            findings.append(step())
            bar.advance(task)
    tour = Tour(findings, settings, files)
    _save(tour, out / TOUR_FILE)
    return tour


def _save(tour: Tour, path: Path) -> None:
    items = []
    for f in tour.findings:
        d = {k: v for k, v in asdict(f).items() if k not in ("table", "figure")}
        d["figure"] = f.figure.name
        if f.table is not None:
            d["table"] = {
                "index_name": f.table.index.name,
                "columns": [str(c) for c in f.table.columns],
                "index": [str(i) for i in f.table.index],
                "data": {str(c): f.table[c].tolist() for c in f.table.columns},
            }
        items.append(d)
    write_json(path, {"settings": asdict(tour.settings), "files": tour.files, "findings": items})


def load_tour(out_dir: str | os.PathLike) -> Tour:
    """Read a tour saved by :func:`run_tour` (figures stay where they were written)."""
    folder = Path(out_dir) / "explore"
    raw = read_json(folder / TOUR_FILE)
    findings = []
    for d in raw["findings"]:
        table = None
        if "table" in d:
            t = d["table"]
            table = pd.DataFrame(t["data"], columns=t["columns"])
            table.index = pd.Index(t["index"])
            table.index.name = t["index_name"]
        findings.append(
            Finding(d["key"], d["title"], folder / d["figure"], d["caption"], d["text"], table)
        )
    return Tour(findings, TourSettings(**raw["settings"]), raw["files"])
