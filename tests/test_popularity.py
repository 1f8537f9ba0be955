"""Popularity (Exercise 2): genre lists, in-fold encoders, the hurdle model, the CLI."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge
from sklearn.model_selection import KFold, cross_val_predict
from sklearn.pipeline import Pipeline
from typer.testing import CliRunner

from aares.cli import app
from aares.data import DataError, load_subset
from aares.popularity import genres as G
from aares.popularity.features import (
    GenreMultiHot,
    GenreTfidf,
    ListTargetEncoder,
    make_features,
    row_keys,
)
from aares.popularity.models import FULL_FEATURES, HurdleRegressor, ladder_models, make_model
from conftest import make_subset_frame as synthetic_subset


def cv_r2(model, X, y, seed: int = 0) -> float:
    pred = cross_val_predict(model, X, y, cv=KFold(5, shuffle=True, random_state=seed))
    return 1 - np.sum((y - pred) ** 2) / np.sum((y - y.mean()) ** 2)


# ----------------------------------------------------------------------------- genre lists


def write_subset(path, genres_cells: list[str]) -> None:
    frame = synthetic_subset(len(genres_cells))
    frame["genres"] = genres_cells
    frame.to_csv(path, index=False)


def test_odd_genre_lists_parse_and_encode(tmp_path):
    path = tmp_path / "subset.csv"
    write_subset(path, ["[]", " [ ] ", "['pop', \"children's music\"]", "['k-pop', 'r&b']"])
    frame = load_subset(path)
    assert frame["genres"].tolist() == [[], [], ["pop", "children's music"], ["k-pop", "r&b"]]
    summary = G.genre_summary(frame["genres"])
    assert summary["songs_without_genre"] == 2
    hot = GenreMultiHot(top_n=10).fit(frame).transform(frame)
    assert hot.loc[2, "genre=children's music"] == 1 and hot.iloc[0].sum() == 0
    assert G.map_by_words("r&b") == ("r&b", "r&b")


@pytest.mark.parametrize("cell", ["", "['pop'", "pop, rock", "[1, 2]", "__import__('os')"])
def test_malformed_genre_list_names_the_row(tmp_path, cell):
    path = tmp_path / "subset.csv"
    write_subset(path, ["['pop']", "[]", cell])
    with pytest.raises(DataError, match=r"column 'genres', row 3 \(line 4\)"):
        load_subset(path)


# ----------------------------------------------------------------------------- leakage


def test_cross_fitting_never_uses_a_rows_own_target():
    frame = synthetic_subset(200)
    y = frame["popularity"].to_numpy(float)
    enc = ListTargetEncoder("artist_name", keys="value", cv=5, random_state=0)
    base = enc.fit_transform(frame, y).to_numpy()
    y2 = y.copy()
    y2[7] += 1000.0  # a row's own target changes: its own encoding must not
    again = ListTargetEncoder("artist_name", keys="value", cv=5, random_state=0)
    assert np.allclose(again.fit_transform(frame, y2).to_numpy()[7], base[7])


def test_leaky_encoder_is_caught_and_pipeline_is_not_leaky():
    # Pure-noise target: nothing can be learned, so an honest CV R2 is about 0.
    frame = synthetic_subset(600, seed=1)
    y = frame["popularity"].to_numpy(float)
    cols = [("artist_name", "value"), ("genres", "list")]
    # Leaky: target statistics fitted on all rows (each row sees its own target).
    leaky = pd.concat(
        [ListTargetEncoder(c, keys=k).fit(frame, y).transform(frame) for c, k in cols], axis=1
    )
    r2_leaky = cv_r2(LinearRegression(), leaky.to_numpy(), y)
    # In-fold: the same encoders inside a pipeline (cross-fitted in each training fold).
    pipe = Pipeline(
        [("features", make_features(("artist_te", "genre_te"))), ("model", LinearRegression())]
    )
    r2_in_fold = cv_r2(pipe, frame, y)
    assert r2_leaky > 0.15, r2_leaky
    assert r2_in_fold < 0.03, r2_in_fold
    # The full aares feature set with ridge stays at about 0 as well.
    r2_aares = cv_r2(make_model("ridge"), frame, y)
    assert r2_aares < 0.03, r2_aares


def test_encoders_learn_a_real_signal():
    frame = synthetic_subset(600, seed=2, songs_per_artist=4)
    rng = np.random.default_rng(0)
    artist_level = frame["artist_name"].map(
        {a: rng.normal(50, 20) for a in frame["artist_name"].unique()}
    )
    y = (artist_level + rng.normal(0, 5, len(frame))).to_numpy()
    pipe = Pipeline([("features", make_features(("artist_te",))), ("model", Ridge())])
    assert cv_r2(pipe, frame, y) > 0.5


def test_row_keys_of_each_kind():
    frame = pd.DataFrame(
        {
            "artist_name": ["a", None],
            "release_date": ["2001", "2002-03"],
            "genres": [["pop rock", "k-pop"], []],
        }
    )
    assert row_keys(frame, "genres", "list") == [["pop rock", "k-pop"], []]
    assert row_keys(frame, "genres", "words") == [["pop", "rock", "k", "pop"], []]
    assert row_keys(frame, "genres", "set") == [["k-pop|pop rock"], []]
    assert row_keys(frame, "artist_name", "release") == [["a|2001"], []]
    with pytest.raises(ValueError, match="keys must be"):
        row_keys(frame, "genres", "nope")


def test_ladder_ends_with_the_full_models():
    models = ladder_models()
    names = list(models)
    assert names[0].startswith("audio") and "hurdle" in names[-1]
    assert models[names[-2]].steps[0][1].encodings == FULL_FEATURES
    assert repr(models[names[-1]]) == repr(make_model("hurdle"))


def test_tfidf_and_svd_shapes():
    frame = synthetic_subset(100)
    words = GenreTfidf().fit_transform(frame)
    assert "word=pop" in words.columns and len(words) == 100
    svd = GenreTfidf(n_components=3).fit(frame).transform(frame.iloc[:10])
    assert svd.shape == (10, 3)


# ----------------------------------------------------------------------------- hurdle


def test_hurdle_predicts_zero_where_classifier_is_sure():
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 10, 400)
    y = np.where(x < 5, 0.0, 20 + 3 * x)
    X = x[:, None]
    h = HurdleRegressor(LogisticRegression(C=100), LinearRegression()).fit(X, y)
    sure_zero = h.predict(np.array([[0.5], [1.0], [2.0]]))
    assert np.all(np.abs(sure_zero) < 0.5)
    assert np.allclose(h.predict(np.array([[9.0]])), 47.0, atol=1.0)
    exact = h.set_params(zero_threshold=0.9).fit(X, y).predict(np.array([[1.0], [9.0]]))
    assert exact[0] == 0.0 and exact[1] > 40
    with pytest.raises(ValueError, match="both zero and non-zero"):
        HurdleRegressor(LogisticRegression(), LinearRegression()).fit(X, np.zeros(400))


def test_models_reject_unknown_names():
    with pytest.raises(ValueError, match="unknown model"):
        make_model("nope")
    with pytest.raises(ValueError, match="unknown encoding"):
        make_features(("song", "nope"))


# ----------------------------------------------------------------------------- genres


def test_folds_and_importance_in_two_processes_give_the_same_results():
    # run-all fits the folds and scores the importance columns in 2 processes
    from aares.popularity.compare import cross_validate_models, raw_permutation_importance

    frame = synthetic_subset(300)
    names = ["mean", "lightgbm_audio", "hurdle"]
    steps: list[str] = []
    one, oof1 = cross_validate_models(frame, names, n_splits=3)
    two, oof2 = cross_validate_models(frame, names, n_splits=3, processes=2, on_step=steps.append)
    cols = ["r2", "r2_std", "mae", "rmse", "r2_pooled"]
    pd.testing.assert_frame_equal(one[cols], two[cols])
    pd.testing.assert_frame_equal(oof1, oof2)
    assert sorted(steps) == sorted(names * 3)  # the progress bar still advances per model
    model = make_model("lightgbm_audio").fit(frame, frame["popularity"])
    imp = [
        raw_permutation_importance(model, frame, frame["popularity"], n_repeats=2, processes=p)
        for p in (1, 2)
    ]
    pd.testing.assert_frame_equal(*imp)


def test_word_mapping_takes_the_last_style():
    assert G.map_by_words("pop punk")[0] == "punk"
    assert G.map_by_words("punk rock")[0] == "rock"
    assert G.map_by_words("southern hip hop")[0] == "hip hop"
    assert G.map_by_words("electro house")[0] == "edm"
    assert G.map_by_words("zzz") == (None, None)


def test_mapping_with_classifier_and_cooccurrence():
    frame = synthetic_subset(6)
    frame["genres"] = [["pop", "dance pop"], ["pop"], ["k-indie"], [], ["k-indie"], ["rock"]]
    predicted = ["pop", "pop", "folk", "rock", "jazz", "rock"]
    m = G.genre_mapping(frame, predicted)
    assert m.loc["k-indie", "word_genre"] is None or pd.isna(m.loc["k-indie", "word_genre"])
    assert m.loc["k-indie", "genre"] in {"folk", "jazz"}
    assert m.loc["k-indie", "mapped_by"] == "classifier"
    assert m.loc["pop", "songs"] == 2 and bool(m.loc["pop", "agree"])
    songs = G.song_genres(frame, m)
    assert songs.iloc[0] == "pop" and songs.iloc[3] is None
    co = G.cooccurrence(frame["genres"], ["pop", "dance pop"])
    assert co.loc["pop", "dance pop"] == 1 and co.loc["pop", "pop"] == 2


# ----------------------------------------------------------------------------- CLI (real data)

runner = CliRunner()


def test_cli_on_a_real_sample(data_dir, tmp_path):
    out = tmp_path / "pop"
    res = runner.invoke(
        app,
        [
            "popularity",
            "compare",
            "--data",
            str(data_dir),
            "--out",
            str(out),
            "--sample",
            "300",
            "--folds",
            "3",
            "--models",
            "mean,ridge",
            "--no-by-artist",
            "--no-importance",
        ],
    )
    assert res.exit_code == 0, res.output
    table = pd.read_csv(out / "cv_results.csv", index_col=0)
    assert list(table.index) == ["mean", "ridge"] and table.loc["mean", "r2"] < 0.01
    assert (out / "predicted_vs_true.png").stat().st_size > 1000
    assert (out / "residuals_by_popularity.png").is_file()

    model = tmp_path / "model.skops"
    res = runner.invoke(
        app,
        [
            "popularity",
            "train",
            "--data",
            str(data_dir),
            "--out",
            str(model),
            "--model",
            "ridge",
            "--sample",
            "300",
        ],
    )
    assert res.exit_code == 0, res.output
    sample = tmp_path / "songs.csv"
    pd.read_csv(data_dir / "spotify_dataset_subset.csv", nrows=20).to_csv(sample, index=False)
    preds = tmp_path / "preds.csv"
    res = runner.invoke(
        app, ["popularity", "predict", str(sample), "--model", str(model), "--out", str(preds)]
    )
    assert res.exit_code == 0, res.output
    got = pd.read_csv(preds)
    assert len(got) == 20 and got["popularity_predicted"].between(0, 100).all()

    res = runner.invoke(
        app,
        [
            "popularity",
            "genres",
            "--data",
            str(data_dir),
            "--out",
            str(out),
            "--classifier",
            "none",
            "--no-encodings",
        ],
    )
    assert res.exit_code == 0, res.output
    mapping = pd.read_csv(out / "genre_mapping.csv")
    assert mapping.loc[mapping["micro_genre"] == "dance pop", "genre"].item() == "pop"
    assert (out / "genre_cooccurrence.png").is_file()


def test_cli_bad_file_is_one_clear_error(tmp_path):
    bad = tmp_path / "spotify_dataset_subset.csv"
    write_subset(bad, ["['pop']", "['oops"])
    res = runner.invoke(
        app,
        [
            "popularity",
            "compare",
            "--data",
            str(tmp_path),
            "--out",
            str(tmp_path / "o"),
            "--models",
            "mean",
        ],
    )
    assert res.exit_code == 1
    assert "row 2" in res.output and "Traceback" not in res.output


def test_report_section_on_a_small_sample(data_dir, tmp_path, monkeypatch):
    from aares.popularity import jobs, report

    small = tmp_path / "data"
    small.mkdir()
    sample = pd.read_csv(data_dir / "spotify_dataset_subset.csv").sample(300, random_state=0)
    sample.to_csv(small / "spotify_dataset_subset.csv", index=False)
    monkeypatch.setattr(jobs, "REPORT_MODELS", ["mean", "ridge"])
    section = report.report_section(small, tmp_path / "out")
    assert section.title.startswith("Exercise 2")
    assert len(section.figures()) >= 4 and all(f.path.is_file() for f in section.figures())
    text = " ".join(b.text for b in section.blocks if hasattr(b, "text"))
    assert "300 songs" in text and "no micro-genre" in text
    # A second call reuses the outputs (same songs): the table file is not rewritten.
    stamp = (tmp_path / "out" / "popularity" / "cv_results.csv").stat().st_mtime_ns
    report.report_section(small, tmp_path / "out")
    assert (tmp_path / "out" / "popularity" / "cv_results.csv").stat().st_mtime_ns == stamp
