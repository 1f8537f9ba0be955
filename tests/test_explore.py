"""aares explore: the tour of the data, on small synthetic course files."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from aares.cli import app
from aares.data import SUBSET_FILE, TRAIN_FILE
from aares.explore.analysis import (
    TourSettings,
    decades,
    load_tour,
    popularity_distribution,
    prepare,
    run_tour,
)
from aares.explore.report import report_section
from aares.report.section import Figure, Heading, Section, Text
from conftest import make_feature_frame

FAST = TourSettings(map_method="pca", map_sample=150, min_decade_songs=5)


def make_subset_frame(n: int = 300, seed: int = 0, acoustic_trend: float = -0.6) -> pd.DataFrame:
    """A small frame with the Exercise 2 subset's columns; acousticness moves by decade."""
    rng = np.random.default_rng(seed)
    base = make_feature_frame(n, seed).drop(columns="genre")
    years = rng.integers(1960, 2021, n)
    months = rng.integers(1, 13, n)
    base["release_date"] = [
        f"{y}-{m:02d}-15" if i % 3 else str(y)
        for i, (y, m) in enumerate(zip(years, months, strict=True))
    ]
    # acousticness drifts with the year, in the direction the test asks for
    t = (years - 1960) / 60
    base["acousticness"] = np.clip(
        0.5 + acoustic_trend * (t - 0.5) + 0.05 * rng.normal(size=n), 0, 1
    )
    for f in ["danceability", "energy", "speechiness", "valence", "liveness"]:
        base[f] = 0.4 + 0.2 * rng.random(n)  # no trend: only acousticness moves
    micro = ["pop", "dance pop", "rock", "indie rock", "jazz", "children's music"]
    genres = []
    for i in range(n):
        k = 0 if i % 9 == 0 else 1 + i % 4
        genres.append(str([str(g) for g in rng.choice(micro, size=k, replace=False)]))
    artists = [f"Artist {i % 40}" for i in range(n)]
    artists[0] = "Björk"
    frame = pd.DataFrame(
        {
            "artist_name": artists,
            "track_name": [f"Song {i}" for i in range(n)],
            "release_date": base["release_date"],
            "genres": genres,
        }
    )
    for c in base.columns:
        if c != "release_date":
            frame[c] = base[c]
    frame["popularity"] = np.where(np.arange(n) % 4 == 0, 0, rng.integers(1, 100, n))
    frame["id"] = [f"id{i:05d}" for i in range(n)]
    return frame


def write_course_files(folder: Path, n: int = 300, train: bool = True, **kw) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    make_subset_frame(n, **kw).to_csv(folder / SUBSET_FILE, index=False)
    if train:
        genres = ["rock", "pop", "jazz", "classical", "hip hop"]
        make_feature_frame(400, 1, genres).to_csv(folder / TRAIN_FILE, index=False)
    return folder


@pytest.fixture
def course_dir(tmp_path: Path) -> Path:
    return write_course_files(tmp_path / "data")


def test_tour_writes_every_figure_with_computed_text(course_dir: Path, tmp_path: Path) -> None:
    tour = run_tour(course_dir, tmp_path / "out", FAST, show_progress=False)
    keys = [f.key for f in tour.findings]
    assert len(keys) == len(set(keys)) == 9
    assert {"song_map", "genre_popularity_explicit", "decades", "correlations"} <= set(keys)
    for f in tour.findings:
        assert f.figure.parent == tmp_path / "out" / "explore"
        assert f.figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert re.search(r"\d", f.text), f"{f.key}: interpretation without a number"
        assert 1 <= f.text.count(". ") + 1 <= 6
    # the saved index reads back to the same findings
    again = load_tour(tmp_path / "out")
    assert [f.text for f in again.findings] == [f.text for f in tour.findings]
    for a, b in zip(again.findings, tour.findings, strict=True):
        if b.table is not None:
            pd.testing.assert_frame_equal(a.table, b.table, check_dtype=False)


def test_report_section_reuses_a_current_tour(course_dir: Path, tmp_path: Path, monkeypatch):
    import aares.explore.report as rep

    monkeypatch.setattr(rep, "TourSettings", lambda: FAST)
    out = tmp_path / "out"
    first = report_section(course_dir, out)
    assert isinstance(first, Section) and first.settings["tour"] == "computed"
    assert len(first.figures()) == 9
    assert sum(isinstance(b, Heading) for b in first.blocks) == 9
    assert [type(b) for b in first.blocks[:4]] == [Text, Heading, Figure, Text]
    second = report_section(course_dir, out)
    assert second.settings["tour"].startswith("reused")
    assert [b.text for b in second.blocks if isinstance(b, Text)] == [
        b.text for b in first.blocks if isinstance(b, Text)
    ]
    # a changed data file makes the saved tour stale
    write_course_files(course_dir, n=320)
    third = report_section(course_dir, out)
    assert third.settings["tour"] == "computed"
    assert all(b.path.is_file() for b in third.figures())


def test_trend_direction_comes_from_the_data(tmp_path: Path) -> None:
    texts = {}
    for trend in (-0.8, 0.8):
        songs = prepare(make_subset_frame(400, acoustic_trend=trend))
        texts[trend] = decades(songs, tmp_path, min_songs=5).text
    assert "acousticness fell" in texts[-0.8]
    assert "acousticness rose" in texts[0.8]


def test_popularity_numbers_come_from_the_data(tmp_path: Path) -> None:
    songs = prepare(make_subset_frame(200))
    songs.loc[:, "popularity"] = np.r_[np.zeros(50), np.full(150, 60)]
    text = popularity_distribution(songs, tmp_path).text
    assert text.startswith("25 % of the songs have popularity 0")
    assert "median of 60" in text


def test_tsne_map_and_genre_separation(course_dir: Path, tmp_path: Path) -> None:
    from aares.explore.analysis import song_map

    train = prepare(pd.read_csv(course_dir / TRAIN_FILE))
    f = song_map(train, tmp_path, method="tsne", sample=120, max_iter=250)
    assert "t-SNE" in f.caption and f.figure.is_file()
    assert set(f.table.index) == {"rock", "pop", "jazz", "classical", "hip hop"}
    assert f.table["kNN same-genre share"].between(0, 1).all()
    with pytest.raises(ValueError, match="tsne"):
        song_map(train, tmp_path, method="umap")


def test_tour_without_training_file_skips_genre_steps(tmp_path: Path) -> None:
    folder = write_course_files(tmp_path / "data", train=False)
    tour = run_tour(folder, tmp_path / "out", FAST, show_progress=False)
    keys = {f.key for f in tour.findings}
    assert "song_map" not in keys and "genre_popularity_explicit" not in keys
    assert len(keys) == 7


def test_explore_cli(course_dir: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "out"
    args = ["explore", "--data", str(course_dir), "--out", str(out), "--map", "pca"]
    result = runner.invoke(app, args + ["--sample", "100"])
    assert result.exit_code == 0, result.output
    assert (out / "explore" / "tour.json").is_file()
    assert len(list((out / "explore").glob("*.png"))) == 9
    bad = runner.invoke(app, ["explore", "--data", str(tmp_path / "nope"), "--out", str(out)])
    assert bad.exit_code == 1
    assert "error" in bad.output and "Traceback" not in bad.output


def test_bad_map_method_is_one_clear_error(course_dir: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["explore", "--data", str(course_dir), "--out", str(tmp_path), "--map", "umap"]
    )
    assert result.exit_code == 1
    assert "map method" in result.output
