"""`aares conformal ...`: prediction sets for the genre with a coverage guarantee."""

from __future__ import annotations

import time
from pathlib import Path

import typer

from aares.console import console, print_frame
from aares.errors import DataError

app = typer.Typer(
    help="Conformal prediction (bonus exercise): genre prediction sets that hold the true genre "
    "with probability 1 - eps. 'analyse' evaluates every method on held-out songs, 'predict' "
    "writes sets for the challenge songs, 'course' runs the course's kNN full conformal "
    "predictor.",
    no_args_is_help=True,
)

DATA = typer.Option(Path("data"), "--data", envvar="AARES_DATA", help="Folder of the course files.")
EPS = typer.Option(0.05, "--eps", help="Significance: sets miss the true genre with prob. <= eps.")
SEED = typer.Option(0, "--seed", help="Random seed (hold-out split, folds, models).")
MODEL = typer.Option(
    "best", "--model", help="Genre model (see `aares genre models`); 'best' = the default."
)
JOBS = typer.Option(
    1, "--n-jobs", help="Threads per model (one is fastest on a busy 2-core machine)."
)
CV = typer.Option(
    "split",
    "--cv",
    help="'split' (a quarter of the songs carved from training calibrates; one model fit) or "
    "a number of folds for cross-conformal prediction (every song both fits and calibrates; "
    "one fit per fold, and on the course data slightly larger sets than split).",
)


#: Columns of the method table that `analyse` prints, with shorter names.
METHOD_COLUMNS = {
    "coverage": "coverage",
    "mean_size": "mean size",
    "median_size": "median",
    "singletons": "singletons",
    "worst_class_coverage": "worst genre",
    "worst_class": "which",
}
#: Columns of the table averaged over deals that `analyse` prints, with shorter names.
DEALT_COLUMNS = {
    "coverage": "coverage",
    "mean_size": "mean size",
    "singletons": "singletons",
    "worst_class_coverage": "worst genre",
    "worst_class": "which",
    "median_worst_single": "worst single",
}


def _fail(exc: Exception) -> None:
    console.print(f"[red]error:[/] {exc}")
    raise typer.Exit(1)


def _check_cv(cv: str) -> str:
    if cv != "split" and not (cv.isdigit() and int(cv) >= 2):
        raise ValueError(f"--cv must be 'split' or a number of folds >= 2, got {cv!r}")
    return cv


@app.command()
def analyse(
    data: Path = DATA,
    out: Path = typer.Option(Path("out/conformal"), "--out", help="Folder for tables/figures."),
    model: str = MODEL,
    cv: str = CV,
    eps: float = EPS,
    seed: int = SEED,
    n_jobs: int = JOBS,
    deals: int = typer.Option(
        40,
        "--deals",
        help="With --cv split: also average every figure over this many new random deals of "
        "the calibration and held-out songs (no refitting; 0 = off). One held-out set has a "
        "few dozen songs of a rare genre, so its coverage alone is noisy.",
    ),
) -> None:
    """Evaluate every conformal method on held-out songs.

    A stratified 15 % of the training file is held out. Reports coverage (marginal and per
    genre), mean/median set size, singletons, the curve over eps, which genres share sets,
    and a few songs with the eps at which their set is one genre. Writes CSV tables, PNG
    figures and summary.json to --out; fitted probabilities are kept in --out/cache and
    reused by the next run.
    """
    import pandas as pd

    from aares.conformal.analysis import write_analysis
    from aares.data import TRAIN_FILE, data_file, load_train

    try:
        _check_cv(cv)
        train = load_train(data_file(TRAIN_FILE, data))
        t0 = time.perf_counter()
        with console.status(f"fitting {model} ({cv}) and calibrating"):
            summary = write_analysis(
                train, out, model=model, cv=cv, seed=seed, eps=eps, n_jobs=n_jobs, deals=deals
            )
    except (DataError, ValueError) as exc:
        _fail(exc)
    console.print(
        f"model {summary['model']} (cv {summary['cv']}): top-1 accuracy "
        f"{summary['accuracy']:.3f} on {summary['test_songs']} held-out songs; "
        f"{time.perf_counter() - t0:.1f} s"
    )
    methods = pd.read_csv(out / "methods.csv", index_col="method")
    print_frame(
        methods.rename(columns=METHOD_COLUMNS)[list(METHOD_COLUMNS.values())],
        f"Methods at eps = {eps:g} on the held-out songs",
    )
    if summary["dealt"]:
        dealt = pd.read_csv(out / "methods_dealt.csv", index_col="method")
        print_frame(
            dealt.rename(columns=DEALT_COLUMNS)[list(DEALT_COLUMNS.values())],
            f"Mean over {summary['dealt']['deals']} deals of calibration and held-out songs "
            "(worst genre: smallest mean coverage; worst single: median of each deal's worst)",
        )
    print_frame(pd.read_csv(out / "top_pairs.csv"), "Genres that most often share a set")
    print_frame(pd.read_csv(out / "examples.csv"), "Songs: eps from which the set is one genre")
    for fig in summary["figures"].values():
        console.print(f"figure: {fig}")


@app.command()
def predict(
    data: Path = DATA,
    out: Path = typer.Option(
        Path("out/conformal/challenge_sets.csv"), "--out", help="CSV file of the sets."
    ),
    model: str = MODEL,
    cv: str = CV,
    eps: float = EPS,
    method: str = typer.Option(
        "LAC", "--method", help="A method of `analyse` (LAC, APS, Mondrian LAC, ...)."
    ),
    seed: int = SEED,
    n_jobs: int = JOBS,
) -> None:
    """Write prediction sets for the challenge songs.

    Fits on the whole training file, calibrates (split by default) and writes one
    row per challenge song: the most likely genre, the set at --eps, its size, credibility
    (largest p-value) and confidence (1 - second largest).
    """
    import numpy as np
    import pandas as pd

    from aares.conformal.analysis import METHODS
    from aares.conformal.course import confidence, credibility
    from aares.conformal.split import SplitConformalClassifier
    from aares.data import TEST_FILE, TRAIN_FILE, data_file, load_test, load_train
    from aares.genre.models import make_model
    from aares.io import ensure_dir, write_csv

    try:
        _check_cv(cv)
        if method not in METHODS:
            raise ValueError(f"unknown method {method!r}; choose from {list(METHODS)}")
        train = load_train(data_file(TRAIN_FILE, data))
        test = load_test(data_file(TEST_FILE, data), train)
        cp = SplitConformalClassifier(
            make_model(model, seed=seed, n_jobs=n_jobs),
            cv=int(cv) if cv.isdigit() else cv,
            random_state=seed,
            **METHODS[method],
        )
        with console.status(f"fitting {model} ({cv}) on {len(train)} songs"):
            cp.fit(train.drop(columns="genre"), train["genre"])
        p = cp.predict_pvalues(test)
    except (DataError, ValueError) as exc:
        _fail(exc)
    sets = p > eps
    frame = pd.DataFrame(
        {
            "genre": cp.classes_[np.argmax(p, axis=1)],
            "set": [";".join(cp.classes_[row]) for row in sets],
            "set_size": sets.sum(axis=1),
            "credibility": credibility(p),
            "confidence": confidence(p),
        }
    )
    ensure_dir(out.parent)
    write_csv(out, frame, index_label="row")
    console.print(
        f"wrote {out}: {len(frame)} songs, mean set size {frame.set_size.mean():.2f} at "
        f"eps = {eps:g} ({method})"
    )


@app.command()
def course(
    data: Path = DATA,
    n_train: int = typer.Option(
        1500, "--n-train", min=1, help="Training songs (the course used 1,500)."
    ),
    n_test: int = typer.Option(500, "--n-test", min=1, help="Held-out songs to predict."),
    k: int = typer.Option(5, "--k", help="n_neighbors of the kNN model (does not change scores)."),
    eps: float = EPS,
    seed: int = SEED,
) -> None:
    """Run the course's kNN full conformal predictor on a sample.

    Full (transductive) conformal prediction with the course's kNN score on scaled numeric
    features: coverage, mean set size, and milliseconds per song.
    """
    import numpy as np
    from sklearn.neighbors import KNeighborsClassifier

    from aares.conformal.course import ConformalPrediction
    from aares.conformal.jobs import course_features
    from aares.data import TRAIN_FILE, data_file, load_train

    try:
        train = load_train(data_file(TRAIN_FILE, data))
        X, y = course_features(train)
        rng = np.random.default_rng(seed)
        perm = rng.permutation(len(y))
        if n_train + n_test > len(y):
            raise ValueError(f"--n-train + --n-test must be <= {len(y)} songs")
        tr, te = perm[:n_train], perm[n_train : n_train + n_test]
        knn = KNeighborsClassifier(n_neighbors=k).fit(X[tr], y[tr])
        t0 = time.perf_counter()
        cp = ConformalPrediction(knn, X[tr], y[tr])
        t1 = time.perf_counter()
        cp.predict(X[te])
        t2 = time.perf_counter()
        sets = cp.compute_interval(eps)
    except (DataError, ValueError) as exc:
        _fail(exc)
    hit = np.mean([t in s for t, s in zip(y[te], sets, strict=True)])
    size = np.mean([len(s) for s in sets])
    console.print(
        f"course kNN full conformal, {n_train} training songs ({knn._fit_method} search): "
        f"coverage {hit:.3f}, mean set size {size:.2f} at eps = {eps:g}; "
        f"set-up {t1 - t0:.2f} s, {1000 * (t2 - t1) / n_test:.2f} ms per song"
    )
