"""Bad values in CSV files (issue 14, item 5): refused or warned with file, column, row and
line, never predicted silently."""

from __future__ import annotations

import warnings

import pytest

from aares.data import DataError, DataWarning, load_test, load_train
from conftest import make_feature_frame

from .helpers import assert_one_line_error, run_aares, snapshot


def _csv(tmp_path, edits: dict[tuple[int, str], object], name="spotify_dataset_train.csv", n=8):
    frame = make_feature_frame(n, seed=3).astype(object)
    for (row, col), value in edits.items():
        frame.loc[row, col] = value
    path = tmp_path / name
    frame.to_csv(path, index=False)
    return path


@pytest.mark.parametrize("value", ["inf", "-inf", "Infinity"])
def test_infinite_value_is_refused_with_file_column_row(tmp_path, value):
    # was accepted, then "array must not contain infs or NaNs" (no file, column or row)
    path = _csv(tmp_path, {(4, "tempo"): value})
    with pytest.raises(DataError) as err:
        load_train(path)
    assert str(err.value) == (
        f"{path}: column 'tempo', row 5 (line 6): expected a finite number, got {value!r}"
    )


@pytest.mark.parametrize(
    "column, value, expected",
    [
        ("danceability", 57, "a danceability value from 0 to 1"),
        ("energy", -0.1, "a energy value from 0 to 1"),
        ("duration_ms", -5, "a duration_ms value of at least 1"),
        ("key", 12, "a key value from -1 to 11"),
        ("mode", 2, "a mode value from 0 to 1"),
        ("popularity", 101, "a popularity value from 0 to 100"),
        ("tempo", -1, "a tempo value of at least 0"),
    ],
)
def test_impossible_feature_value_is_refused(tmp_path, column, value, expected):
    # these were accepted without a word
    path = _csv(tmp_path, {(2, column): value})
    with pytest.raises(
        DataError, match=f"column '{column}', row 3 \\(line 4\\): expected {expected}"
    ):
        load_train(path)


def test_unusual_loudness_is_kept_with_a_warning(tmp_path):
    path = _csv(tmp_path, {(1, "loudness"): 12.5})
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        frame = load_train(path)
    assert frame.loc[1, "loudness"] == 12.5
    messages = [str(w.message) for w in seen if issubclass(w.category, DataWarning)]
    assert messages == [
        f"{path}: column 'loudness', row 2 (line 3): '12.5' is outside the usual -60 to 5; kept"
    ]


def test_huge_cell_is_cut_in_the_message(tmp_path):
    # a whole 400 kB cell used to be quoted in the error
    path = _csv(tmp_path, {(3, "key"): "9" * 200_000 + "x" * 200_000})
    with pytest.raises(DataError) as err:
        load_train(path)
    message = str(err.value)
    assert len(message) < 250, len(message)
    assert message.endswith("... (400,000 characters)")


def test_line_numbers_count_quoted_multi_line_cells(tmp_path):
    # row 3 spans three lines: row 6 starts on line 9, not 7
    frame = make_feature_frame(8, seed=3).astype(object)
    frame["track_name"] = "x"
    frame.loc[2, "track_name"] = "a title\non three\nlines"
    frame.loc[5, "mode"] = "maybe"
    path = tmp_path / "spotify_dataset_train.csv"
    frame.to_csv(path, index=False)
    with pytest.raises(DataError, match=r"column 'mode', row 6 \(line 9\): expected a number"):
        load_train(path)


def test_blank_lines_are_counted(tmp_path):
    path = _csv(tmp_path, {(3, "valence"): "high"})
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(lines[:2] + ["\n", "\n"] + lines[2:]))
    with pytest.raises(DataError, match=r"row 4 \(line 7\)"):
        load_test(path)


def test_infinite_value_in_the_challenge_file_stops_predict(tmp_path, lightgbm_model):
    # was predicted silently and copied into the answer file
    data = tmp_path / "data"
    data.mkdir()
    _csv(data, {(6, "energy"): "inf"}, name="spotify_dataset_test.csv")
    out = tmp_path / "out"
    result = run_aares("genre", "predict", "--model", lightgbm_model, "--data", data, "--out", out)
    assert_one_line_error(result, "spotify_dataset_test.csv", "'energy'", "row 7", "finite")
    assert snapshot(out) == {}
