"""Part 1 on anyone's songs: model files with a card, predicting any file, drift warnings."""

from __future__ import annotations

import io
import json
import pickle
import warnings
import zipfile

import numpy as np
import pandas as pd
import pytest

from aares.data import DataError
from aares.genre.model import GenreModel, load_model
from aares.inputs import DriftWarning, InputWarning
from aares.modelcard import CARD_MEMBER, ModelFileError, read_card
from aares.scoring import predict_files
from aares.tables import read_raw
from conftest import make_feature_frame


@pytest.fixture(scope="session")
def tiny(tmp_path_factory):
    """A small logistic-regression genre model on synthetic songs, saved once."""
    frame = make_feature_frame(400, seed=1)
    model = GenreModel("logreg", folds=3).fit(frame.drop(columns="genre"), frame["genre"])
    path = tmp_path_factory.mktemp("models") / "tiny.skops"
    model.save(path)
    return path, model, frame


def _songs(n=150, seed=7) -> pd.DataFrame:
    return make_feature_frame(n, seed=seed).drop(columns="genre")


def _recorded(fn):
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        result = fn()
    return result, seen


def test_card_round_trips_and_predictions_survive_saving(tiny):
    path, model, _ = tiny
    loaded = load_model(path)
    assert read_card(path, "genre") == json.loads(json.dumps(model.card_))
    assert loaded.card_ == read_card(path)
    card = loaded.card_
    assert card["kind"] == "genre" and card["training"]["rows"] == 400
    assert card["classes"] == ["jazz", "pop", "rock"]
    assert {"f1_micro", "f1_macro", "log_loss"} <= set(card["cv"]) and card["cv"]["folds"] == 3
    assert card["calibration"]["songs"] == 400
    songs = _songs()
    np.testing.assert_allclose(loaded.predict_proba(songs), model.predict_proba(songs))
    assert loaded.predict_sets(songs, 0.1) == model.predict_sets(songs, 0.1)


def test_card_names_the_training_file_and_its_checksum(tmp_path):
    import hashlib

    frame = make_feature_frame(120, seed=3)
    src = tmp_path / "my_train.csv"
    frame.to_csv(src, index=False)
    model = GenreModel("majority", folds=0).fit(frame.drop(columns="genre"), frame["genre"], src)
    training = model.card_["training"]
    assert training["file"] == "my_train.csv"
    assert training["sha256"] == hashlib.sha256(src.read_bytes()).hexdigest()
    assert model.card_["cv"] is None
    with pytest.raises(ValueError, match="no calibration for prediction sets"):
        model.predict_sets(_songs(), 0.1)


def test_any_case_extra_columns_and_order_give_the_same_genres(tiny, tmp_path):
    _, model, _ = tiny
    songs = _songs()
    want = model.predict(songs)
    mixed = songs.rename(
        columns={"energy": "Energy", "tempo": "TEMPO", "release_date": "Release_Date"}
    )
    mixed.insert(0, "comment", "x")
    mixed["id"] = [f"s{i}" for i in range(len(mixed))]
    mixed = mixed[list(reversed(mixed.columns))]
    path = tmp_path / "mine.csv"
    mixed.to_csv(path, index=False)
    run = predict_files(model, [path], tmp_path / "pred.csv", top=2)
    assert run.table["genre"].tolist() == want.tolist()
    assert run.table["id"].tolist() == mixed["id"].tolist()
    assert list(run.table.columns) == ["id", "genre", "probability", "genre_2", "probability_2"]
    assert pd.read_csv(tmp_path / "pred.csv")["genre"].tolist() == want.tolist()


def test_missing_release_date_predicts_with_a_warning_saying_what_is_lost(tiny):
    _, model, frame = tiny
    songs = _songs().drop(columns=["release_date"])
    pred, seen = _recorded(lambda: model.predict(songs))
    assert len(pred) == len(songs)
    msgs = [str(w.message) for w in seen if w.category is InputWarning]
    assert len(msgs) == 1 and "'release_date'" in msgs[0] and "loses the release-date" in msgs[0]
    year = str(int(pd.to_numeric(frame["release_date"].str[:4]).median()))
    assert f"every song gets {year!r}" in msgs[0]


def test_year_column_stands_in_for_release_date(tiny):
    _, model, _ = tiny
    songs = _songs()
    as_year = songs.assign(year=songs["release_date"].str[:4]).drop(columns="release_date")
    _, seen = _recorded(lambda: model.predict(as_year))
    assert any("using 'year' instead" in str(w.message) for w in seen)


def test_empty_optional_cells_are_filled_and_counted(tiny):
    _, model, _ = tiny
    songs = _songs().astype({"popularity": object})
    songs.loc[[3, 5], "popularity"] = None
    _, seen = _recorded(lambda: model.predict(songs))
    assert any("2 empty 'popularity' cell(s)" in str(w.message) for w in seen)


def test_missing_required_column_names_file_and_column(tiny, tmp_path):
    _, model, _ = tiny
    path = tmp_path / "no_energy.csv"
    _songs().drop(columns="energy").to_csv(path, index=False)
    with pytest.raises(DataError, match=r"no_energy\.csv: missing required column\(s\) 'energy'"):
        predict_files(model, [path], tmp_path / "out.csv")
    assert not (tmp_path / "out.csv").exists()


def test_wrong_type_names_file_column_and_row(tiny, tmp_path):
    _, model, _ = tiny
    songs = _songs().astype({"tempo": object})
    songs.loc[4, "tempo"] = "fast"
    path = tmp_path / "bad.csv"
    songs.rename(columns={"tempo": "Tempo"}).to_csv(path, index=False)
    with pytest.raises(
        DataError,
        match=r"bad\.csv: column 'Tempo', row 5 \(line 6\): expected a number, got 'fast'",
    ):
        model.predict(path)


def test_stdout_output_parses_as_csv(tiny, tmp_path, capsys):
    _, model, _ = tiny
    path = tmp_path / "songs.parquet"
    _songs().to_parquet(path)
    run = predict_files(model, [path], "-", top=3, eps=0.1)
    assert run.written is None
    out = pd.read_csv(io.StringIO(capsys.readouterr().out))
    assert len(out) == 150 and out["row"].tolist() == list(range(1, 151))
    assert out["genre"].tolist() == run.table["genre"].tolist()
    assert (
        out["set_size"] == out["set"].fillna("").map(lambda s: len(s.split("|")) if s else 0)
    ).all()


def test_parquet_and_json_lines_in_and_out(tiny, tmp_path):
    _, model, _ = tiny
    songs = _songs().assign(track_name=lambda f: [f"song {i}" for i in range(len(f))])
    src = tmp_path / "songs.jsonl"
    songs.to_json(src, orient="records", lines=True)
    a = predict_files(model, [src], tmp_path / "p.parquet", eps=0.2)
    predict_files(model, [src, src], tmp_path / "p.jsonl")
    assert pd.read_parquet(tmp_path / "p.parquet")["set"].tolist() == a.table["set"].tolist()
    back = read_raw(tmp_path / "p.jsonl")
    assert len(back) == 300 and back["file"].nunique() == 1 and "track_name" in back


def test_sets_cover_about_one_minus_eps_on_new_songs(tiny):
    _, model, _ = tiny
    new = make_feature_frame(1500, seed=11)
    sets = model.predict_sets(new.drop(columns="genre"), eps=0.1)
    covered = np.mean([g in s for g, s in zip(new["genre"], sets, strict=True)])
    assert covered >= 0.85
    sets_strict = model.predict_sets(new.drop(columns="genre"), eps=0.02)
    assert np.mean([len(s) for s in sets_strict]) >= np.mean([len(s) for s in sets])


def test_drift_is_warned_per_feature_with_the_measure(tiny):
    _, model, _ = tiny
    songs = _songs(300)
    _, seen = _recorded(lambda: model.predict(songs))
    assert not [w for w in seen if w.category is DriftWarning]
    shifted = songs.assign(tempo=songs["tempo"] + 80, danceability=songs["danceability"] * 0.2)
    _, seen = _recorded(lambda: model.predict(shifted))
    drift = [str(w.message) for w in seen if w.category is DriftWarning]
    assert len(drift) == 1
    assert "population stability index" in drift[0] and "tempo PSI" in drift[0]
    assert "danceability PSI" in drift[0] and "energy PSI" not in drift[0]


def test_foreign_skops_file_is_refused_without_loading(tmp_path, monkeypatch):
    import skops.io as sio
    from sklearn.linear_model import LogisticRegression

    path = tmp_path / "foreign.skops"
    sio.dump(LogisticRegression().fit(np.eye(2), [0, 1]), path)
    monkeypatch.setattr(sio, "load", lambda *a, **k: pytest.fail("skops.load was called"))
    with pytest.raises(ModelFileError, match="without an aares model card"):
        load_model(path)


class _Trap:
    def __reduce__(self):
        return (open, (str(_Trap.marker), "w"))


def test_pickle_file_is_refused_without_unpickling(tmp_path):
    _Trap.marker = tmp_path / "unpickled"
    path = tmp_path / "model.skops"
    path.write_bytes(pickle.dumps(_Trap()))
    with pytest.raises(ModelFileError, match="a pickle file.*never unpickles"):
        load_model(path)
    assert not _Trap.marker.exists()


def test_a_missing_model_file_says_how_to_make_one(tmp_path):
    with pytest.raises(ModelFileError, match=r"model file not found \(train one with `aares genre"):
        read_card(tmp_path / "none.skops", "genre")
    with pytest.raises(ModelFileError, match="`aares popularity train`"):
        read_card(tmp_path / "none.skops", "popularity")


def test_popularity_or_newer_cards_are_refused(tiny, tmp_path):
    path, _, _ = tiny
    for change, message in [({"kind": "popularity"}, "a popularity model, expected a genre"),
                            ({"format_version": 99}, "newer than this aares reads")]:  # fmt: skip
        copy = tmp_path / f"copy{len(message)}.skops"
        with zipfile.ZipFile(path) as src, zipfile.ZipFile(copy, "w") as dst:
            for item in src.infolist():
                data = src.read(item)
                if item.filename == CARD_MEMBER:
                    data = json.dumps({**json.loads(data), **change}).encode()
                dst.writestr(item, data)
        with pytest.raises(ModelFileError, match=message):
            load_model(copy)


@pytest.mark.data
def test_shuffled_challenge_copy_gives_the_challenge_answers(data_dir, tmp_path):
    from aares.data import TEST_FILE, load_train
    from aares.genre.challenge import predict_challenge

    train = load_train(data_dir / "spotify_dataset_train.csv").sample(1500, random_state=0)
    model = GenreModel("logreg", folds=0).fit(train.drop(columns="genre"), train["genre"])
    _, _, genres = predict_challenge(model.estimator_, data_dir, tmp_path / "challenge")
    raw = pd.read_csv(data_dir / TEST_FILE, dtype=str, keep_default_na=False)
    order = np.random.default_rng(0).permutation(len(raw))
    copy = raw.iloc[order].reset_index(drop=True)
    copy.columns = [c.upper() if i % 2 else c.title() for i, c in enumerate(copy.columns)]
    copy.insert(3, "note", "mine")
    copy["song_id"] = order
    path = tmp_path / "shuffled.csv"
    copy.to_csv(path, index=False)
    run = predict_files(model, [path], tmp_path / "answers.csv", keep_all=True)
    assert run.table["genre"].tolist() == list(genres[order])
    assert run.table["song_id"].astype(int).tolist() == order.tolist()


# ----------------------------------------------------------------------------- popularity


@pytest.fixture(scope="session")
def tiny_popularity(tmp_path_factory):
    from aares.popularity.model import PopularityModel

    frame = make_feature_frame(300, seed=5).drop(columns="genre")
    frame["artist_name"] = [f"artist {i % 40}" for i in range(len(frame))]
    frame["track_name"] = [f"song {i}" for i in range(len(frame))]
    frame["genres"] = [["rock"] if i % 2 else ["pop", "dance pop"] for i in range(len(frame))]
    frame["popularity"] = (frame["energy"] * 40 + (frame.index % 40)).round().astype(int)
    model = PopularityModel("lightgbm_audio", folds=3).fit(frame)
    path = tmp_path_factory.mktemp("models") / "popularity.skops"
    model.save(path)
    return path, model, frame


def test_popularity_model_card_intervals_and_kaggle_layout(tiny_popularity, tmp_path):
    from aares.genre.model import load_model as load_genre
    from aares.popularity import load_model

    path, model, frame = tiny_popularity
    loaded = load_model(path)
    assert loaded.card_ == read_card(path, "popularity")
    assert {"r2", "mae", "rmse"} <= set(loaded.card_["cv"])
    np.testing.assert_allclose(loaded.predict(frame), model.predict(frame))
    with pytest.raises(ModelFileError, match="a popularity model, expected a genre model"):
        load_genre(path)
    # the Kaggle catalogue layout: 'artists' lists, 'name', no genres/time_signature
    kaggle = frame.drop(columns=["genres", "time_signature", "artist_name"]).rename(
        columns={"track_name": "name"}
    )
    kaggle["artists"] = [repr([a, "guest"]) for a in frame["artist_name"]]
    src = tmp_path / "kaggle.csv"
    kaggle.to_csv(src, index=False)
    run = predict_files(loaded, [src], tmp_path / "pop.csv", eps=0.2)
    assert "first artist of 'artists'" in " ".join(run.notes)
    assert any("no 'genres' column" in n and "micro-genres" in n for n in run.notes)
    t = run.table
    assert list(t.columns[:2]) == ["name", "artists"]
    assert ((t["popularity_low"] <= t["popularity_predicted"])
            & (t["popularity_predicted"] <= t["popularity_high"])).all()  # fmt: skip
    covered = ((frame["popularity"] >= t["popularity_low"])
               & (frame["popularity"] <= t["popularity_high"])).mean()  # fmt: skip
    assert covered >= 0.75


def test_training_folds_are_the_ones_compare_reuses(tmp_path):
    from aares.genre.evaluate import compare_models

    frame = make_feature_frame(200, seed=2)
    X, y = frame.drop(columns="genre"), frame["genre"].to_numpy()
    model = GenreModel("logreg", folds=3, cache_dir=tmp_path).fit(X, y)
    assert model.card_["cv"]["cached"] is False
    (run,) = compare_models(X, y, ["logreg"], folds=3, cache_dir=tmp_path)
    assert run.cached
    np.testing.assert_allclose(run.proba, model.calibration_["cal_proba"], atol=1e-6)
