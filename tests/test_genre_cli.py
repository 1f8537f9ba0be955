"""Genre CLI and challenge files: synthetic checks, and an end-to-end run on a real sample."""

from __future__ import annotations

import io
import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from aares.cli import app
from aares.data import TEST_FILE, TRAIN_FILE
from aares.genre.challenge import write_challenge
from aares.genre.describe import accuracy_bound, describe_data
from aares.genre.evaluate import compare_models, cross_val_proba, score_table
from aares.genre.models import ENSEMBLES
from conftest import make_feature_frame

runner = CliRunner()


def test_challenge_file_keeps_rows_in_order(tmp_path):
    raw = make_feature_frame(30, seed=4).drop(columns="genre").astype(str)
    genres = np.array([f"g{i}" for i in range(len(raw))])
    challenge, genre_only = write_challenge(raw, genres, tmp_path)
    back = pd.read_csv(challenge, dtype=str, keep_default_na=False)
    assert list(back.columns) == [*raw.columns, "genre"]
    pd.testing.assert_frame_equal(back.drop(columns="genre"), raw.reset_index(drop=True))
    assert back["genre"].tolist() == genres.tolist()
    assert pd.read_csv(genre_only)["genre"].tolist() == genres.tolist()
    with pytest.raises(ValueError, match="one per row"):
        write_challenge(raw, genres[:-1], tmp_path)


def test_accuracy_bound_counts_conflicting_duplicates():
    frame = make_feature_frame(50, seed=5)
    feats = frame.drop(columns="genre")
    assert accuracy_bound(feats, frame["genre"])[0] == 1.0
    twice = pd.concat([frame, frame.iloc[:10].assign(genre="other")], ignore_index=True)
    bound, groups, rows = accuracy_bound(twice.drop(columns="genre"), twice["genre"])
    assert (groups, rows) == (10, 20)
    assert bound == pytest.approx(50 / 60)
    summary = describe_data(twice)
    assert summary.conflicting_groups == 10
    assert "trap" in summary.missing_genres and "other" in summary.unknown_genres


def test_cv_ensemble_and_balanced_reuse_member_predictions(tmp_path):
    frame = make_feature_frame(150, seed=6)
    X, y = frame.drop(columns="genre"), frame["genre"].to_numpy()
    calls = []
    runs = compare_models(
        X, y, ["majority", "ensemble"], folds=3, balanced=["ensemble"], cache_dir=tmp_path,
        on_fold=lambda: calls.append(1),
    )  # fmt: skip
    # majority + each ensemble member, 3 folds each; balanced mode reuses them
    assert len(calls) == 3 * (1 + len(ENSEMBLES["ensemble"]))
    table = score_table(y, runs)
    assert list(table.index) == ["majority", "ensemble", "ensemble+balanced"]
    assert table.loc["ensemble", "f1_micro"] > table.loc["majority", "f1_micro"]
    lgbm = cross_val_proba("lightgbm", X, y, folds=3, cache_dir=tmp_path)
    assert lgbm.cached  # second call reads the NPZ cache
    np.testing.assert_allclose(lgbm.proba.sum(axis=1), 1.0)


def test_cli_reports_missing_data_folder(tmp_path):
    result = runner.invoke(app, ["genre", "train", "--data", str(tmp_path / "nowhere")])
    assert result.exit_code == 1
    assert "file not found" in result.output


@pytest.fixture(scope="module")
def sample_dir(tmp_path_factory, data_dir):
    """1,500 training songs and 120 challenge songs of the real data, as course files."""
    out = tmp_path_factory.mktemp("genre_sample")
    train = pd.read_csv(data_dir / TRAIN_FILE, dtype=str, keep_default_na=False)
    train.sample(1500, random_state=0).to_csv(out / TRAIN_FILE, index=False)
    test = pd.read_csv(data_dir / TEST_FILE, dtype=str, keep_default_na=False)
    test.iloc[:120].to_csv(out / TEST_FILE, index=False)
    return out


def test_cli_end_to_end_on_real_sample(sample_dir, tmp_path):
    out = tmp_path / "out"
    r = runner.invoke(app, ["genre", "describe", "--data", str(sample_dir), "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert (out / "class_balance.png").stat().st_size > 0
    assert "trap" in (out / "summary.txt").read_text()

    args = ["--data", str(sample_dir), "--out", str(out / "cmp"), "--folds", "3"]
    r = runner.invoke(app, ["genre", "compare", *args, "--models", "majority,knn",
                            "--no-balanced", "--cache", str(tmp_path / "cache")])  # fmt: skip
    assert r.exit_code == 0, r.output
    scores = pd.read_csv(out / "cmp" / "scores.csv", index_col="model")
    assert scores.loc["knn", "f1_micro"] > scores.loc["majority", "f1_micro"]

    model = tmp_path / "model.skops"
    r = runner.invoke(app, ["genre", "train", "--data", str(sample_dir), "--model", "logreg",
                            "--folds", "3", "--out", str(model)])  # fmt: skip
    assert r.exit_code == 0, r.output
    assert "3-fold CV F1-micro" in r.output
    r = runner.invoke(app, ["genre", "info", str(model)])
    assert r.exit_code == 0 and "spotify_dataset_train.csv, 1,500 rows" in r.output
    r = runner.invoke(app, ["genre", "info", str(model), "--json"])
    assert json.loads(r.stdout)["training"]["rows"] == 1500
    # any file, any column case, to stdout: CSV with the id, genre, top 2 and the sets
    mine = pd.read_csv(sample_dir / TEST_FILE, dtype=str).rename(columns=str.upper)
    mine.insert(0, "Track_Name", [f"t{i}" for i in range(len(mine))])
    mine.to_csv(tmp_path / "mine.csv", index=False)
    r = runner.invoke(app, ["genre", "predict", str(tmp_path / "mine.csv"), "--model", str(model),
                            "--top", "2", "--sets", "0.1"])  # fmt: skip
    assert r.exit_code == 0, r.output
    table = pd.read_csv(io.StringIO(r.stdout))
    assert list(table.columns) == ["Track_Name", "genre", "probability", "genre_2",
                                   "probability_2", "set", "set_size"]  # fmt: skip
    assert len(table) == 120 and "Predicted 120 songs" in r.stderr
    (tmp_path / "model.pkl").write_bytes(b"\x80\x04K\x01.")
    r = runner.invoke(app, ["genre", "predict", str(tmp_path / "mine.csv"), "--model",
                            str(tmp_path / "model.pkl")])  # fmt: skip
    assert r.exit_code == 1 and "not an aares model file (a pickle file)" in r.output
    r = runner.invoke(app, ["genre", "predict", "--data", str(sample_dir), "--model", str(model),
                            "--out", str(out)])  # fmt: skip
    assert r.exit_code == 0, r.output
    answer = pd.read_csv(out / TEST_FILE, dtype=str, keep_default_na=False)
    original = pd.read_csv(sample_dir / TEST_FILE, dtype=str, keep_default_na=False)
    assert len(answer) == 120 and answer.columns[-1] == "genre"
    pd.testing.assert_frame_equal(answer.drop(columns="genre"), original)
    train_genres = set(pd.read_csv(sample_dir / TRAIN_FILE)["genre"])
    assert set(answer["genre"]) <= train_genres
    assert pd.read_csv(out / "genre.csv")["genre"].tolist() == answer["genre"].tolist()


def test_run_all_step_and_report_section(sample_dir, tmp_path):
    from aares.genre.jobs import run_all_step
    from aares.genre.report import report_section
    from aares.report.section import Figure, Table

    run_all_step(sample_dir, tmp_path)
    root = tmp_path / "genre"
    answer = pd.read_csv(root / TEST_FILE)
    assert len(answer) == 120 and answer.columns[-1] == "genre"
    assert (root / "model.skops").is_file() and (root / "describe" / "class_balance.png").is_file()
    section = report_section(sample_dir, tmp_path)
    assert section.title.startswith("Exercise 1")
    assert all(f.path.is_file() for f in section.figures()) and section.figures()
    assert any("120 songs predicted" in getattr(b, "text", "") for b in section.blocks)
    # the main job cross-validates a few models for the report: table and confusion matrix
    (table,) = [b for b in section.blocks if isinstance(b, Table)]
    assert {"majority", "ensemble", "ensemble+balanced"} <= set(table.frame.index)
    assert any(isinstance(b, Figure) and "confusion" in b.path.name for b in section.blocks)
    assert any("aares genre compare" in getattr(b, "text", "") for b in section.blocks)
