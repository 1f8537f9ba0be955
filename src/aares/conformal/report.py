"""The conformal bonus exercise's section of the report (numbers from this run's outputs)."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from aares.io import read_json
from aares.report.section import Figure, Section, Table, Text

__all__ = ["report_section"]


def _dealt_blocks(s: dict, folder: Path) -> list:
    """Text and table of the figures averaged over new deals of calibration/test songs."""
    if not s.get("dealt"):
        return []
    d = s["dealt"]
    marg = d["methods"][s["marginal_method"]]
    mond = d["methods"][s["mondrian_method"]]
    text = Text(
        f"The same model, with its calibration and held-out songs dealt again at random "
        f"{d['deals']} times (same number of songs of each genre on each side), averages out "
        f"the test-set noise: {s['marginal_method']} covers {marg['coverage']:.3f} with "
        f"{marg['mean_size']:.2f} genres per set; {s['mondrian_method']} covers "
        f"{mond['coverage']:.3f} with {mond['mean_size']:.2f} genres per set, and every genre's "
        f"mean coverage is at least {mond['worst_class_coverage']:.3f} "
        f"({mond['worst_class']}), while the worst genre of a single deal has a median "
        f"coverage of {mond['median_worst_single']:.3f}."
    )
    table = pd.read_csv(folder / "methods_dealt.csv", index_col="method")
    caption = (
        f"Every method at eps = {s['eps']:g}, mean over {d['deals']} deals; worst genre = "
        "smallest mean genre coverage; all_genres_reach = share of deals in which every genre "
        "reaches 0.93."
    )
    return [text, Table(table, caption=caption)]


def _interval(s: dict) -> str:
    """' (95 % interval a-b from its n held-out songs)' for the Mondrian worst genre, if stored."""
    worst = s.get("mondrian_worst")
    if not worst:  # written by an older aares
        return ""
    lo, hi = worst["interval"]
    return f" (95 % interval {lo:.3f}-{hi:.3f} from its {worst['songs']} held-out songs)"


def report_section(data_dir: str | os.PathLike, out_dir: str | os.PathLike) -> Section:
    """Section "Conformal prediction": reuses ``out_dir/conformal`` or runs the analysis."""
    folder = Path(out_dir) / "conformal"
    if not (folder / "summary.json").exists():
        from aares.conformal.jobs import run_all_step

        run_all_step(Path(data_dir), Path(out_dir))
    s = read_json(folder / "summary.json")
    eps = s["eps"]
    marg = s["methods"][s["marginal_method"]]
    mond = s["methods"][s["mondrian_method"]]
    noise = s["worst_genre_noise"]
    methods = pd.read_csv(folder / "methods.csv", index_col="method")
    examples = pd.read_csv(folder / "examples.csv")
    pairs = pd.read_csv(folder / "top_pairs.csv")
    pair_text = ", ".join(f"{a} + {b}" for a, b in zip(pairs.genre_a, pairs.genre_b, strict=True))
    blocks = [
        Text(
            f"Prediction sets for the genre, calibrated on held-out songs so that they hold the "
            f"true genre with probability at least 1 - eps. Model {s['model']} (top-1 accuracy "
            f"{s['accuracy']:.3f}), calibration '{s['cv']}' on {s['calibration_songs']} songs, "
            f"evaluated on {s['test_songs']} held-out songs ({s['holdout']:.0%}, seed "
            f"{s['seed']})."
        ),
        Text(
            f"At eps = {eps:g}, {s['marginal_method']} covers {marg['coverage']:.3f} of the "
            f"held-out songs with {marg['mean_size']:.2f} genres per set on average (median "
            f"{marg['median_size']:.0f}, {marg['singletons']:.1%} single genres); its worst genre "
            f"is {marg['worst_class']} at {marg['worst_class_coverage']:.3f}: rare genres pay "
            f"for the frequent ones. Class-conditional calibration ({s['mondrian_method']}) "
            f"calibrates each genre on its own songs; its worst genre on this held-out set is "
            f"{mond['worst_class']} at {mond['worst_class_coverage']:.3f}{_interval(s)}, with "
            f"{mond['mean_size']:.2f} genres per set."
        ),
        Text(
            f"How low can the worst genre fall by chance? The held-out genres have "
            f"{s['test_songs']} songs in all but as few as a few dozen each; if every genre were "
            f"covered exactly {1 - eps:g} of the time, the smallest of the {s['genres']} measured "
            f"coverages would have a median of {noise['median_worst']:.3f}, and all of them would "
            f"reach {noise['threshold']:g} with probability {noise['p_all_reach']:.1%} only "
            "(binomial simulation). A worst genre just under 1 - eps is what valid "
            "class-conditional sets look like on this test set."
        ),
        Table(methods, caption=f"Every method at eps = {eps:g} on the held-out songs."),
        *_dealt_blocks(s, folder),
        Figure(
            Path(s["figures"]["eps_curve"]),
            "Coverage follows 1 - eps; sets shrink as eps grows.",
        ),
        Figure(
            Path(s["figures"]["class_coverage"]),
            "Marginal methods under-cover some genres; Mondrian calibration covers each one.",
        ),
        Figure(
            Path(s["figures"]["cooccurrence"]),
            f"Genres that share sets. Most often together: {pair_text}.",
        ),
        Table(
            examples,
            caption="Held-out songs: the set is the single genre 'single_genre' for every eps "
            "from eps_single (the second-largest p-value) up to the credibility; "
            f"{s['examples_right']} of {len(examples)} are right.",
        ),
    ]
    settings = {"model": s["model"], "cv": s["cv"], "eps": f"{eps:g}", "seed": str(s["seed"])}
    return Section("Conformal prediction (bonus)", blocks, settings)
