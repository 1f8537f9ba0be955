"""The data layer: schema errors name file, column and row; odd values are normalised."""

from __future__ import annotations

import pandas as pd
import pytest

from aares.data import (
    DataError,
    load_catalogue,
    load_subset,
    load_test,
    load_train,
    parse_release_date,
    parse_str_list,
)
from conftest import make_feature_frame


def write(tmp_path, frame, name="train.csv"):
    path = tmp_path / name
    frame.to_csv(path, index=False)
    return path


def test_train_roundtrip_types(tmp_path):
    frame = make_feature_frame(30)
    train = load_train(write(tmp_path, frame))
    assert train["explicit"].dtype == bool
    assert train["tempo"].dtype == "float64"
    assert train["key"].dtype == "int64"
    assert list(train.columns) == list(frame.columns)


def test_missing_genre_column_is_named(tmp_path):
    path = write(tmp_path, make_feature_frame(10).drop(columns="genre"))
    with pytest.raises(DataError, match=r"train\.csv: missing column\(s\) 'genre'"):
        load_train(path)


def test_non_numeric_tempo_names_column_and_row(tmp_path):
    frame = make_feature_frame(10).astype({"tempo": object})
    frame.loc[3, "tempo"] = "fast"
    with pytest.raises(DataError) as err:
        load_train(write(tmp_path, frame))
    msg = str(err.value)
    assert "'tempo'" in msg and "row 4 (line 5)" in msg and "expected a number" in msg
    assert "'fast'" in msg


def test_empty_file(tmp_path):
    path = tmp_path / "empty.csv"
    path.write_text("")
    with pytest.raises(DataError, match="empty.csv: the file is empty"):
        load_train(path)


def test_header_only_file(tmp_path):
    path = write(tmp_path, make_feature_frame(5).iloc[:0])
    with pytest.raises(DataError, match="no rows"):
        load_train(path)


def test_missing_file_names_path(tmp_path):
    with pytest.raises(DataError, match="nope.csv: file not found"):
        load_train(tmp_path / "nope.csv")


def test_test_columns_must_match_training(tmp_path):
    frame = make_feature_frame(10)
    train = load_train(write(tmp_path, frame))
    odd = frame.drop(columns=["genre", "liveness"])
    with pytest.raises(DataError, match=r"columns differ from the training file.*'liveness'"):
        load_test(write(tmp_path, odd, "test.csv"), train)
    ok = load_test(write(tmp_path, frame.drop(columns="genre"), "test2.csv"), train)
    assert len(ok) == 10


@pytest.mark.parametrize(
    ("raw", "expected"), [("True", True), ("false", False), ("1", True), ("0", False)]
)
def test_explicit_accepts_both_spellings(tmp_path, raw, expected):
    frame = make_feature_frame(3).astype({"explicit": object})
    frame["explicit"] = raw
    assert load_train(write(tmp_path, frame))["explicit"].tolist() == [expected] * 3


def test_bad_explicit_and_date_are_named(tmp_path):
    frame = make_feature_frame(5).astype({"explicit": object})
    frame.loc[2, "explicit"] = "maybe"
    with pytest.raises(DataError, match=r"'explicit', row 3.*True/False or 0/1"):
        load_train(write(tmp_path, frame))
    frame = make_feature_frame(5)
    frame.loc[1, "release_date"] = "23/06/2015"
    with pytest.raises(DataError, match=r"'release_date', row 2.*YYYY-MM-DD"):
        load_train(write(tmp_path, frame))


def test_parse_release_date_precisions():
    parts = parse_release_date(pd.Series(["2015-06-23", "2003", "1999-04"]))
    assert parts["year"].tolist() == [2015, 2003, 1999]
    assert parts["precision"].tolist() == [3, 1, 2]
    assert parts["month"].iloc[2] == 4 and pd.isna(parts["month"].iloc[1])
    assert parts["weekday"].iloc[0] == 1  # 2015-06-23 was a Tuesday


def test_parse_str_list_odd_inputs():
    out = parse_str_list(pd.Series(["[]", "", "['a b', \"children's music\"]", '["x"]']))
    assert out.tolist() == [[], [], ["a b", "children's music"], ["x"]]
    with pytest.raises(DataError, match=r"'genres', row 2.*list of strings"):
        parse_str_list(pd.Series(["['ok']", "['broken"]), column="genres")
    with pytest.raises(DataError, match="list of strings"):
        parse_str_list(pd.Series(["[1, 2]"]))
    with pytest.raises(DataError, match="list of strings"):
        parse_str_list(pd.Series(["__import__('os').system('true')"]))


@pytest.mark.data
def test_real_files_load(data_dir):
    train = load_train(data_dir / "spotify_dataset_train.csv")
    test = load_test(data_dir / "spotify_dataset_test.csv", train)
    assert len(train) == 25_492 and len(test) == 2_833
    assert train["genre"].nunique() == 22
    subset = load_subset(data_dir / "spotify_dataset_subset.csv")
    assert isinstance(subset["genres"].iloc[0], list)
    cat = load_catalogue(data_dir / "spotify_dataset_recommendation.csv")
    assert cat["explicit"].dtype == bool and len(cat) >= 145_000
