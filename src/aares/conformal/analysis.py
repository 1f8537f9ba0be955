"""How good are the conformal sets for the genre? Coverage, set sizes, co-occurrence.

The protocol (fixed seeds): a stratified 15 % of the training file is held out as test songs;
the rest fits the genre classifier and calibrates the sets (a calibration share carved from
it, or cross-conformal so that every song serves both). The fitted models' probabilities are
stored once (NPZ), and every method (score, Mondrian, smoothing) is then evaluated from them
in milliseconds; with split calibration, also over new deals of calibration and test songs.

Example
-------
>>> import numpy as np
>>> sets = np.array([[True, False, True], [False, True, False]])
>>> m = set_metrics(sets, np.array([0, 2]), ["a", "b", "c"])
>>> m["coverage"], m["mean_size"], m["singletons"]
(0.5, 1.5, 0.5)
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.model_selection import train_test_split

from aares.cache import code_version, memory
from aares.conformal._validation import check_eps, check_stratifiable
from aares.conformal.course import single_label_epsilon
from aares.conformal.split import CALIBRATION_SIZE, SplitConformalClassifier
from aares.genre.models import limit_threads
from aares.plotting import save_figure, styled, subplots

__all__ = [
    "HOLDOUT",
    "METHODS",
    "MARGINAL_METHOD",
    "MONDRIAN_METHOD",
    "ConformalRun",
    "holdout_split",
    "fit_run",
    "limit_threads",
    "top_pairs",
    "worst_class_noise",
    "coverage_interval",
    "write_analysis",
    "set_metrics",
    "method_table",
    "resplit_runs",
    "resplit_table",
    "eps_curve",
    "cooccurrence",
    "single_genre_examples",
    "plot_eps_curve",
    "plot_cooccurrence",
    "plot_class_coverage",
]

#: Share of the training file held out as test songs.
HOLDOUT = 0.15

#: The methods compared: name -> SplitConformalClassifier parameters.
METHODS: dict[str, dict] = {
    "LAC": {"score": "lac"},
    "LAC smoothed": {"score": "lac", "smooth": True},
    "APS": {"score": "aps"},
    "RAPS": {"score": "raps", "raps_lambda": 0.01, "raps_k": 3},
    "Mondrian LAC": {"score": "lac", "mondrian": True},
    "Mondrian APS": {"score": "aps", "mondrian": True},
    "Mondrian LAC smoothed": {"score": "lac", "mondrian": True, "smooth": True},
}
#: The marginal method and the class-conditional method the analysis puts first.
MARGINAL_METHOD = "LAC"
MONDRIAN_METHOD = "Mondrian LAC smoothed"


def holdout_split(y, test_size: float = HOLDOUT, seed: int = 0):
    """Stratified indices ``(train, test)`` of a held-out share of the songs."""
    check_stratifiable(y, 2, "holding out test songs (stratified)")
    idx = np.arange(len(y))
    return train_test_split(idx, test_size=test_size, stratify=np.asarray(y), random_state=seed)


@dataclass
class ConformalRun:
    """Everything needed to evaluate methods without refitting: stored probabilities."""

    classes: np.ndarray
    cal_proba: np.ndarray
    cal_labels: np.ndarray
    cal_folds: np.ndarray
    cal_u: np.ndarray
    test_fold_proba: np.ndarray  # (n_models, m, n_classes)
    test_labels: np.ndarray  # codes into classes
    test_index: np.ndarray  # rows of the training file
    model: str
    cv: str

    def predictor(self, **params) -> SplitConformalClassifier:
        """A predictor with these settings over the stored calibration data."""
        return SplitConformalClassifier.from_calibration(
            self.classes, self.cal_proba, self.cal_labels, self.cal_folds, self.cal_u, **params
        )

    def p_values(self, **params) -> np.ndarray:
        """Test songs' p-values for a method."""
        return self.predictor(**params).pvalues_from_proba(self.test_fold_proba)

    def sets(self, eps: float, **params) -> np.ndarray:
        """Test songs' prediction sets (boolean, one column per class) for a method."""
        pred = self.predictor(**params)
        return pred.pvalues_from_proba(self.test_fold_proba) > pred.class_eps(eps)[None, :]

    @property
    def accuracy(self) -> float:
        """Top-1 accuracy of the (fold-averaged) classifier on the test songs."""
        pred = self.test_fold_proba.mean(axis=0).argmax(axis=1)
        return float(np.mean(pred == self.test_labels))


def _cv_value(cv: str):
    return int(cv) if str(cv).isdigit() else str(cv)


def fit_run(
    train: pd.DataFrame,
    model_name: str = "best",
    *,
    cv: str = "5",
    seed: int = 0,
    cache_dir: str | os.PathLike | None = None,
    estimator=None,
    n_jobs: int | None = None,
    calibration_size: float = CALIBRATION_SIZE,
) -> ConformalRun:
    """Hold out test songs, fit the genre model(s), store calibration and test probabilities.

    Parameters
    ----------
    train : DataFrame
        The training file (``aares.data.load_train``), ``genre`` included.
    model_name : str
        A name for :func:`aares.genre.models.make_model` (``"best"`` by default).
    cv : str
        ``"split"`` or a number of folds for cross-conformal prediction.
    seed : int
        Seed of the hold-out split, the folds and the models.
    cache_dir : path, optional
        Where to keep the run (:func:`aares.cache.memory`); a run with the same data, settings
        and model code is read back instead of fitted.
    estimator : classifier, optional
        Used instead of ``make_model(model_name, seed)`` (``model_name`` then only names it).
    n_jobs : int, optional
        Threads per model (see :func:`limit_threads`); the model's own setting when None.
    calibration_size : float, default 0.15
        With ``cv="split"``: share of the songs not held out that calibrates (the rest fits).
    """
    if "genre" not in train.columns:
        raise ValueError("the training frame has no 'genre' column")
    if estimator is None:
        from aares.genre.models import make_model

        estimator = make_model(model_name, seed=seed)
    # The key: the data, the model's settings and the code of the models and the predictor
    params = repr(sorted(estimator.get_params(deep=True).items(), key=str))
    code = code_version(
        "aares.genre.models", "aares.genre.features", "aares.conformal.split",
        libraries=("scikit-learn", "lightgbm"),
    )  # fmt: skip
    fit = memory(cache_dir).cache(_fit_run, ignore=["estimator", "n_jobs"])
    arrays = fit(
        train, model_name, params, str(cv), seed, calibration_size, code,
        estimator=estimator, n_jobs=n_jobs,
    )  # fmt: skip
    return ConformalRun(
        classes=np.asarray(arrays["classes"]).astype(object),
        cal_proba=arrays["cal_proba"],
        cal_labels=arrays["cal_labels"],
        cal_folds=arrays["cal_folds"],
        cal_u=arrays["cal_u"],
        test_fold_proba=arrays["test_fold_proba"],
        test_labels=arrays["test_labels"],
        test_index=arrays["test_index"],
        model=model_name,
        cv=str(cv),
    )


def _fit_run(train, model_name, params, cv, seed, calibration_size, code, estimator, n_jobs):
    # the fitting part of fit_run, cached (model_name, params and code only key the cache)
    y = train["genre"].to_numpy()
    if n_jobs is not None:
        estimator = limit_threads(clone(estimator), n_jobs)
    tr, te = holdout_split(y, seed=seed)
    X = train.drop(columns="genre")
    cp = SplitConformalClassifier(
        estimator, cv=_cv_value(cv), calibration_size=calibration_size, random_state=seed
    )
    cp.fit(X.iloc[tr], y[tr])
    return {
        "classes": np.asarray(cp.classes_).astype(str),
        "cal_proba": cp.cal_proba_,
        "cal_labels": cp.cal_labels_,
        "cal_folds": cp.cal_folds_,
        "cal_u": cp.cal_u_,
        "test_fold_proba": cp.fold_proba(X.iloc[te]),
        "test_labels": cp._codes(y[te]),
        "test_index": np.asarray(te),
    }


def set_metrics(sets: np.ndarray, y_codes: np.ndarray, classes) -> dict:
    """Coverage (marginal, per class, worst class) and set sizes of boolean prediction sets."""
    sets = np.asarray(sets, dtype=bool)
    y_codes = np.asarray(y_codes)
    hit = sets[np.arange(len(y_codes)), y_codes]
    size = sets.sum(axis=1)
    per_class = pd.Series(
        [hit[y_codes == c].mean() if np.any(y_codes == c) else np.nan for c in range(len(classes))],
        index=pd.Index(list(classes), name="genre"),
        dtype=float,
    )
    return {
        "coverage": float(hit.mean()),
        "mean_size": float(size.mean()),
        "median_size": float(np.median(size)),
        "singletons": float(np.mean(size == 1)),
        "empty": float(np.mean(size == 0)),
        "worst_class_coverage": float(per_class.min()),
        "worst_class": str(per_class.idxmin()),
        "per_class": per_class,
    }


def method_table(run: ConformalRun, eps: float = 0.05, methods: dict | None = None) -> pd.DataFrame:
    """One row per method: coverage, sizes, singletons and the worst genre at ``eps``."""
    eps = check_eps(eps)
    rows = {}
    for name, params in (methods or METHODS).items():
        m = set_metrics(run.sets(eps, **params), run.test_labels, run.classes)
        m.pop("per_class")
        rows[name] = m
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "method"
    return table


def resplit_runs(run: ConformalRun, n_splits: int = 100, seed: int = 0):
    """Runs with the calibration and test songs of a split run dealt again, genre by genre.

    Given the fitted model, its calibration and test songs are exchangeable: dealing them
    again at random (same number of songs of each genre on each side) gives other equally
    valid evaluations without refitting. Averaged over many deals, a genre's coverage
    estimates the coverage the conformal guarantee is about (an expectation over calibration
    and test songs) far more precisely than one test set with a few dozen songs of the genre.
    Only for ``cv="split"``: cross-conformal calibration songs also trained the other folds.
    """
    if len(run.test_fold_proba) != 1 or run.cv != "split":
        raise ValueError(
            f"re-dealing calibration and test songs needs split calibration (cv='split'), "
            f"got cv={run.cv!r}"
        )
    proba = np.concatenate([run.cal_proba, run.test_fold_proba[0]])
    labels = np.concatenate([run.cal_labels, run.test_labels])
    rows = np.concatenate([np.full(len(run.cal_labels), -1), run.test_index])
    n_cal = np.bincount(run.cal_labels, minlength=len(run.classes))
    members = [np.flatnonzero(labels == c) for c in range(len(run.classes))]
    rng = np.random.default_rng(seed)
    for _ in range(n_splits):
        dealt = [rng.permutation(m) for m in members]
        cal = np.concatenate([d[:k] for d, k in zip(dealt, n_cal, strict=True)])
        test = np.concatenate([d[k:] for d, k in zip(dealt, n_cal, strict=True)])
        yield ConformalRun(
            classes=run.classes,
            cal_proba=proba[cal],
            cal_labels=labels[cal],
            cal_folds=np.zeros(len(cal), dtype=np.int64),
            cal_u=rng.random(len(cal)),
            test_fold_proba=proba[test][None],
            test_labels=labels[test],
            test_index=rows[test],
            model=run.model,
            cv=run.cv,
        )


def resplit_table(
    run: ConformalRun,
    eps: float = 0.05,
    methods: dict | None = None,
    *,
    n_splits: int = 100,
    seed: int = 0,
    threshold: float = 0.93,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every method's figures averaged over ``n_splits`` deals (see :func:`resplit_runs`).

    Returns the method table (means over deals; ``worst_class_coverage`` is the smallest
    *mean* genre coverage; ``all_genres_reach`` the share of deals in which every genre's
    coverage is ``>= threshold``; ``median_worst_single`` the median over deals of the worst
    genre of one deal) and the mean coverage of each genre (rows) for each method (columns).
    """
    eps = check_eps(eps)
    methods = methods or METHODS
    sums: dict[str, dict] = {name: {} for name in methods}
    per_genre: dict[str, list] = {name: [] for name in methods}
    for dealt in resplit_runs(run, n_splits, seed):
        for name, params in methods.items():
            m = set_metrics(dealt.sets(eps, **params), dealt.test_labels, dealt.classes)
            per_genre[name].append(m.pop("per_class"))
            m.pop("worst_class")
            for key, value in m.items():
                sums[name].setdefault(key, []).append(value)
    rows, genres = {}, {}
    for name in methods:
        cov = pd.concat(per_genre[name], axis=1)
        genres[name] = cov.mean(axis=1)
        row = {k: float(np.mean(v)) for k, v in sums[name].items()}
        row.pop("worst_class_coverage")  # a mean of minima; the minimum of means follows
        row["median_worst_single"] = float(np.median(sums[name]["worst_class_coverage"]))
        row["worst_class_coverage"] = float(genres[name].min())
        row["worst_class"] = str(genres[name].idxmin())
        row["all_genres_reach"] = float(np.mean((cov >= threshold).all(axis=0)))
        rows[name] = row
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "method"
    return table, pd.DataFrame(genres)


def eps_curve(run: ConformalRun, eps_grid, **params) -> pd.DataFrame:
    """Coverage, mean/median set size and singleton share of a method for each eps of a grid."""
    pred = run.predictor(**params)
    p = pred.pvalues_from_proba(run.test_fold_proba)
    rows = []
    for eps in eps_grid:
        sets = p > pred.class_eps(float(eps))[None, :]
        m = set_metrics(sets, run.test_labels, run.classes)
        m.pop("per_class")
        rows.append({"eps": float(eps), **m})
    return pd.DataFrame(rows).set_index("eps")


def worst_class_noise(
    test_counts, coverage: float, threshold: float | None = None, draws: int = 20000, seed: int = 0
) -> dict:
    """How low the worst genre's coverage falls by test-sampling noise alone.

    If every genre were covered with probability exactly ``coverage``, each genre's measured
    coverage on its ``n`` test songs would be Binomial(n, coverage) / n. Returns the median of
    the smallest of them and, given ``threshold``, the chance that all reach it.

    Examples
    --------
    >>> r = worst_class_noise([40] * 20, 0.95, threshold=0.93)
    >>> r["median_worst"] < 0.93, r["p_all_reach"] < 0.1
    (True, True)
    """
    n = np.asarray(test_counts, dtype=int)
    rng = np.random.default_rng(seed)
    worst = (rng.binomial(n[None, :], coverage, size=(draws, len(n))) / n).min(axis=1)
    out = {"coverage": float(coverage), "median_worst": float(np.median(worst))}
    if threshold is not None:
        out["threshold"] = float(threshold)
        out["p_all_reach"] = float(np.mean(worst >= threshold))
    return out


def coverage_interval(hits, n, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Exact (Clopper-Pearson) interval of a coverage measured as ``hits`` of ``n`` songs.

    A genre's coverage on a few dozen held-out songs is a binomial share: the interval says
    which true coverages the measurement cannot tell apart.

    Examples
    --------
    >>> lo, hi = coverage_interval([64, 73], [73, 73])
    >>> lo.round(3).tolist(), hi.round(3).tolist()
    ([0.779, 0.951], [0.942, 1.0])
    """
    from scipy.stats import beta

    hits = np.asarray(hits, dtype=float)
    n = np.asarray(n, dtype=float)
    if np.any(n < 1) or np.any(hits < 0) or np.any(hits > n):
        raise ValueError("coverage_interval needs 0 <= hits <= n and n >= 1")
    tail = (1.0 - level) / 2
    with np.errstate(invalid="ignore", divide="ignore"):
        lo = np.where(hits > 0, beta.ppf(tail, hits, n - hits + 1), 0.0)
        hi = np.where(hits < n, beta.ppf(1 - tail, hits + 1, n - hits), 1.0)
    return lo, hi


def cooccurrence(sets: np.ndarray, classes) -> pd.DataFrame:
    """Share of the sets holding genre ``i`` (row) that also hold genre ``j`` (column)."""
    s = np.asarray(sets, dtype=float)
    both = s.T @ s
    with np.errstate(invalid="ignore", divide="ignore"):
        share = both / np.diag(both)[:, None]
    names = pd.Index(list(classes), name="genre")
    return pd.DataFrame(share, index=names, columns=list(classes))


def single_genre_examples(
    run: ConformalRun, p_values: np.ndarray, n: int = 8, seed: int = 0
) -> pd.DataFrame:
    """A few test songs: the eps from which their set is one genre, and whether it is right.

    For sets ``{l : p_l > eps}`` the set is the single best genre for every eps in
    ``[p_(2), p_(1))``: ``eps_single`` is ``p_(2)``, and ``1 - p_(2)`` the confidence.
    """
    rng = np.random.default_rng(seed)
    pick = np.sort(rng.choice(len(p_values), size=min(n, len(p_values)), replace=False))
    eps, idx = single_label_epsilon(p_values[pick])
    true = run.classes[run.test_labels[pick]]
    guess = np.where(idx >= 0, run.classes[np.maximum(idx, 0)], None)
    return pd.DataFrame(
        {
            "test_row": run.test_index[pick],
            "true_genre": true,
            "single_genre": guess,
            "eps_single": eps,
            "credibility": p_values[pick].max(axis=1),
            "set_size_at_0.05": (p_values[pick] > 0.05).sum(axis=1),
            "right": guess == true,
        }
    )


# -- figures ---------------------------------------------------------------------------
@styled
def plot_eps_curve(curves: dict[str, pd.DataFrame], path) -> Path:
    """Coverage and mean set size against eps, one line per method."""
    fig, (ax1, ax2) = subplots(1, 2, figsize=(11, 4))
    for name, c in curves.items():
        ax1.plot(c.index, c["coverage"], label=name)
        ax2.plot(c.index, c["mean_size"], label=name)
    grid = next(iter(curves.values())).index
    ax1.plot(grid, 1 - grid, "k--", lw=1, label="1 - eps (target)")
    ax1.set(xlabel="significance eps", ylabel="coverage on held-out songs", title="Coverage")
    ax2.set(xlabel="significance eps", ylabel="mean set size (genres)", title="Set size")
    ax1.legend(fontsize=8)
    ax2.legend(fontsize=8)
    return save_figure(fig, path)


@styled
def plot_cooccurrence(share: pd.DataFrame, path, eps: float) -> Path:
    """Heat map of how often two genres share a prediction set."""
    fig, ax = subplots(figsize=(9, 8))
    im = ax.imshow(share.to_numpy(), cmap="viridis", vmin=0, vmax=1)
    ax.set_xticks(range(len(share.columns)), share.columns, rotation=90)
    ax.set_yticks(range(len(share.index)), share.index)
    ax.grid(False)
    ax.set(
        xlabel="also in the set",
        ylabel="genre in the set",
        title=f"Genres together in prediction sets (eps = {eps:g})",
    )
    fig.colorbar(im, ax=ax, label="share of sets with the row genre that hold the column genre")
    return save_figure(fig, path)


@styled
def plot_class_coverage(
    per_method: dict[str, pd.Series], path, eps: float, test_counts=None
) -> Path:
    """Per-genre coverage of a few methods, with the 1 - eps target.

    With ``test_counts`` (held-out songs of each genre, in the series' order), the methods
    measured on the held-out set get 95 % intervals (:func:`coverage_interval`); columns
    named "... deals" are means over deals and get none.
    """
    frame = pd.DataFrame(per_method)
    fig, ax = subplots(figsize=(13, 4))
    width = 0.8 / len(frame.columns)
    x = np.arange(len(frame))
    for i, col in enumerate(frame.columns):
        yerr = None
        if test_counts is not None and not col.endswith("deals"):
            n = np.asarray(test_counts)
            lo, hi = coverage_interval(np.round(frame[col].to_numpy() * n), n)
            yerr = np.vstack([frame[col] - lo, hi - frame[col]])
        ax.bar(
            x + i * width, frame[col], width, label=col, yerr=yerr, capsize=2, error_kw={"lw": 0.8}
        )
    ax.axhline(1 - eps, color="k", ls="--", lw=1, label=f"1 - eps = {1 - eps:g}")
    ax.set_xticks(x + 0.4 - width / 2, frame.index, rotation=60, ha="right")
    ax.set(ylabel="coverage on held-out songs", ylim=(min(0.5, frame.min().min()), 1.0))
    whiskers = "" if test_counts is None else " (whiskers: 95 % intervals from the held-out songs)"
    ax.set_title(f"Coverage per genre at eps = {eps:g}{whiskers}")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))  # clear of the bars
    return save_figure(fig, path)


def top_pairs(sets: np.ndarray, classes, k: int = 8) -> pd.DataFrame:
    """The genre pairs that most often share a set (Jaccard index of their set memberships)."""
    s = np.asarray(sets, dtype=float)
    both = s.T @ s
    count = np.diag(both)
    with np.errstate(invalid="ignore", divide="ignore"):
        jac = both / (count[:, None] + count[None, :] - both)
    i, j = np.triu_indices(len(count), k=1)
    frame = pd.DataFrame(
        {
            "genre_a": np.asarray(classes)[i],
            "genre_b": np.asarray(classes)[j],
            "jaccard": jac[i, j],
            "sets_with_both": both[i, j].astype(int),
        }
    )
    return frame.sort_values("jaccard", ascending=False).head(k).reset_index(drop=True)


def write_analysis(
    train: pd.DataFrame,
    folder: str | os.PathLike,
    *,
    model: str = "best",
    cv: str = "5",
    seed: int = 0,
    eps: float = 0.05,
    estimator=None,
    n_jobs: int | None = 1,
    deals: int = 40,
) -> dict:
    """The whole analysis: tables (CSV), figures (PNG) and ``summary.json`` in ``folder``.

    The fitted models' probabilities are kept in ``folder/cache`` (NPZ) and reused by the
    next run with the same data and settings. With ``cv="split"`` the figures are also
    averaged over ``deals`` new deals of the calibration and test songs
    (:func:`resplit_table`; ``methods_dealt.csv``, ``per_genre_dealt.csv``); 0 skips them.
    """
    from aares.io import ensure_dir, write_json

    eps = check_eps(eps)
    folder = ensure_dir(folder)
    run = fit_run(
        train,
        model,
        cv=cv,
        seed=seed,
        cache_dir=folder / "cache",
        estimator=estimator,
        n_jobs=n_jobs,
    )
    table = method_table(run, eps)
    table.to_csv(folder / "methods.csv")
    dealt = None
    if run.cv == "split" and deals > 0:
        dealt, dealt_genres = resplit_table(run, eps, n_splits=deals, seed=seed)
        dealt.to_csv(folder / "methods_dealt.csv")
        dealt_genres.to_csv(folder / "per_genre_dealt.csv")
    p = {name: run.p_values(**METHODS[name]) for name in METHODS}
    per_genre = pd.DataFrame(
        {
            name: set_metrics(run.sets(eps, **params), run.test_labels, run.classes)["per_class"]
            for name, params in METHODS.items()
        }
    )
    counts = np.bincount(run.test_labels, minlength=len(run.classes))
    interval = [f"{MONDRIAN_METHOD} 95% low", f"{MONDRIAN_METHOD} 95% high"]
    per_genre[interval[0]], per_genre[interval[1]] = coverage_interval(
        np.round(per_genre[MONDRIAN_METHOD] * counts), counts
    )
    per_genre.insert(0, "test_songs", counts)
    worst = per_genre.loc[table.loc[MONDRIAN_METHOD, "worst_class"]]
    per_genre.to_csv(folder / "per_genre.csv")
    grid = np.round(np.arange(0.01, 0.51, 0.01), 2)
    shown = [MARGINAL_METHOD, "APS", MONDRIAN_METHOD]
    curves = {name: eps_curve(run, grid, **METHODS[name]) for name in shown}
    pd.concat(curves, names=["method"]).to_csv(folder / "eps_curve.csv")
    sets = run.sets(eps, **METHODS[MARGINAL_METHOD])
    share = cooccurrence(sets, run.classes)
    share.to_csv(folder / "cooccurrence.csv")
    pairs = top_pairs(sets, run.classes)
    pairs.to_csv(folder / "top_pairs.csv", index=False)
    examples = single_genre_examples(run, p[MARGINAL_METHOD], n=10, seed=seed)
    examples.to_csv(folder / "examples.csv", index=False)
    figures = {
        "eps_curve": plot_eps_curve(curves, folder / "eps_curve.png"),
        "cooccurrence": plot_cooccurrence(share, folder / "cooccurrence.png", eps),
        "class_coverage": plot_class_coverage(
            {n: per_genre[n] for n in [MARGINAL_METHOD, MONDRIAN_METHOD]}
            | (
                {}
                if dealt is None
                else {f"{MONDRIAN_METHOD}, mean of {deals} deals": dealt_genres[MONDRIAN_METHOD]}
            ),
            folder / "class_coverage.png",
            eps,
            counts,
        ),
    }
    summary = {
        "model": run.model,
        "cv": run.cv,
        "seed": seed,
        "eps": eps,
        "holdout": HOLDOUT,
        "test_songs": int(len(run.test_labels)),
        "genres": int(len(run.classes)),
        "calibration_songs": int(len(run.cal_labels)),
        "accuracy": run.accuracy,
        "methods": {
            name: {k: (v if isinstance(v, str) else float(v)) for k, v in row.items()}
            for name, row in table.to_dict(orient="index").items()
        },
        "marginal_method": MARGINAL_METHOD,
        "mondrian_method": MONDRIAN_METHOD,
        "examples_right": int(examples["right"].sum()),
        "worst_genre_noise": worst_class_noise(counts, 1 - eps, threshold=0.93),
        "mondrian_worst": {
            "songs": int(worst["test_songs"]),
            "interval": [float(worst[col]) for col in interval],
        },
        "dealt": None
        if dealt is None
        else {
            "deals": int(deals),
            "methods": {
                name: {k: (v if isinstance(v, str) else float(v)) for k, v in row.items()}
                for name, row in dealt.to_dict(orient="index").items()
            },
        },
        "top_pairs": pairs.to_dict(orient="records"),
        "figures": {k: str(v) for k, v in figures.items()},
    }
    write_json(folder / "summary.json", summary)
    return summary
