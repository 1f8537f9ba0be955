"""Ordinary failures of the command line (issue 14, item 3): one line naming the file or
option and what was expected, a non-zero exit, no traceback, nothing half written.

Most cases call :func:`aares.__main__.main` in this process (the code the ``aares``
program runs); the ones about signals or start-up run the real program.
"""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from aares.__main__ import INTERRUPTED, main

from .helpers import snapshot


def run_main(capsys, *args) -> tuple[int, str]:
    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def assert_error(code: int, out: str, *words: str, exit_code: int = 1) -> str:
    assert code == exit_code, out
    assert "Traceback" not in out, out
    errors = [line for line in out.splitlines() if line.strip().lower().startswith("error:")]
    assert errors, out
    for word in words:
        assert word.lower() in errors[0].lower(), (word, errors[0])
    return errors[0]


# ----------------------------------------------------------------------------- unwritable outputs


def test_genre_predict_into_a_readonly_folder(capsys, readonly_dir, lightgbm_model, genre_data):
    # was a PermissionError traceback
    out = readonly_dir / "answers"
    code, text = run_main(
        capsys, "genre", "predict", "--model", lightgbm_model, "--data", genre_data, "--out", out
    )
    assert_error(code, text, str(readonly_dir))
    assert snapshot(readonly_dir) == {}


def test_genre_train_into_a_readonly_folder(capsys, monkeypatch, readonly_dir, genre_data):
    # the folder is checked before training (was: minutes of training, then a traceback)
    from aares.genre.model import GenreModel

    def fit(*args, **kwargs):
        raise AssertionError("trained before checking the output")

    monkeypatch.setattr(GenreModel, "fit", fit)
    out = readonly_dir / "model.skops"
    code, text = run_main(
        capsys, "genre", "train", "--model", "majority", "--data", genre_data, "--out", out
    )
    assert_error(code, text, str(readonly_dir))
    assert snapshot(readonly_dir) == {}


def test_popularity_train_checks_its_output_first(capsys, monkeypatch, tmp_path):
    from aares.popularity.model import PopularityModel

    def fit(*args, **kwargs):
        raise AssertionError("trained before checking the output")

    monkeypatch.setattr(PopularityModel, "fit", fit)
    out = tmp_path / "a-folder"
    out.mkdir()
    data = tmp_path / "data"
    data.mkdir()
    from .conftest import subset_frame

    subset_frame(60).to_csv(data / "spotify_dataset_subset.csv", index=False)
    code, text = run_main(capsys, "popularity", "train", "--data", data, "--out", out)
    assert_error(code, text, "a-folder", "is a folder")


def test_popularity_predict_into_a_readonly_folder(capsys, readonly_dir, popularity_model):
    model, songs = popularity_model
    out = readonly_dir / "pred.csv"
    code, text = run_main(capsys, "popularity", "predict", songs, "--model", model, "--out", out)
    assert_error(code, text, "pred.csv")
    assert snapshot(readonly_dir) == {}


def test_fp_plot_into_a_readonly_folder(capsys, readonly_dir, tmp_path):
    import soundfile as sf

    song = tmp_path / "tone.wav"
    t = np.arange(22_050 * 2) / 22_050
    sf.write(song, 0.3 * np.sin(2 * np.pi * 440 * t), 22_050)
    out = readonly_dir / "spectrogram.png"
    code, text = run_main(capsys, "fp", "plot", "spectrogram", song, "--out", out)
    assert_error(code, text, "spectrogram.png")
    assert snapshot(readonly_dir) == {}


def test_report_into_a_readonly_folder(capsys, readonly_dir, genre_data):
    code, text = run_main(capsys, "report", "--data", genre_data, "--out", readonly_dir, "--no-pdf")
    assert_error(code, text, str(readonly_dir))
    assert snapshot(readonly_dir) == {}


def test_out_naming_an_existing_file(capsys, tmp_path, lightgbm_model, genre_data):
    # was FileExistsError: [Errno 17] (a traceback)
    out = tmp_path / "answers"
    out.write_text("not a folder")
    code, text = run_main(
        capsys, "genre", "predict", "--model", lightgbm_model, "--data", genre_data, "--out", out
    )
    assert_error(code, text, str(out), "is a file", "folder")
    assert out.read_text() == "not a folder"


def test_full_disk_leaves_the_old_answers(capsys, full_disk, lightgbm_model, genre_data):
    # a real ENOSPC on a 64 kB tmpfs: one line, the previous answers untouched, no temp file
    folder, fill = full_disk
    out = folder / "answers"
    out.mkdir()
    (out / "genre.csv").write_text("genre\nold\n")
    fill()
    before = snapshot(folder)
    code, text = run_main(
        capsys, "genre", "predict", "--model", lightgbm_model, "--data", genre_data, "--out", out
    )
    assert_error(code, text, "no space left")
    assert snapshot(folder) == before


def test_full_disk_simulated(capsys, monkeypatch, tmp_path, lightgbm_model, genre_data):
    # the same without root: the write fails as ENOSPC does, on the hidden temporary file
    import pandas as pd

    def full(self, path, *args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))

    monkeypatch.setattr(pd.DataFrame, "to_csv", full)
    out = tmp_path / "answers"
    code, text = run_main(
        capsys, "genre", "predict", "--model", lightgbm_model, "--data", genre_data, "--out", out
    )
    line = assert_error(code, text, "no space left", "nothing was replaced")
    assert "aares-tmp" not in line  # names the output, not the temporary file
    assert [p.name for p in out.iterdir()] == []


# ----------------------------------------------------------------------------- options


def test_conformal_course_n_test_zero(capsys, genre_data):
    # was ZeroDivisionError after loading the data
    code, text = run_main(capsys, "conformal", "course", "--data", genre_data, "--n-test", "0")
    assert_error(code, text, "--n-test", exit_code=2)


def test_conformal_course_negative_n_train(capsys, genre_data):
    # ran and reported nan
    code, text = run_main(capsys, "conformal", "course", "--data", genre_data, "--n-train", "-5")
    assert_error(code, text, "--n-train", exit_code=2)


def test_genre_compare_empty_model_list(capsys, genre_data, tmp_path):
    # was KeyError
    code, text = run_main(
        capsys, "genre", "compare", "--models", ",", "--data", genre_data, "--out", tmp_path
    )
    assert_error(code, text, "--models")


@pytest.mark.parametrize(
    "args, word",
    [(["-n", "0"], "-n"), (["--diversity", "5"], "--diversity"), (["-n", "-3"], "-n")],
)
def test_recommend_options_are_checked_before_any_work(capsys, tmp_path, args, word):
    # the 145k-song index was built before these were looked at; the data folder here is
    # empty, so reaching the index would fail on the missing catalogue instead
    code, text = run_main(capsys, "recommend", "playlist", "Song", *args, "--data", tmp_path)
    assert_error(code, text, word, exit_code=2)


def test_recommend_unknown_user_before_the_index(capsys, tmp_path):
    folder = tmp_path / "interactions" / "lastfm-hetrec2011"
    folder.mkdir(parents=True)
    (folder / "user_artists.dat").write_text("userID\tartistID\tweight\n2\t51\t13883\n")
    (folder / "artists.dat").write_text("id\tname\turl\tpictureURL\n51\tDuran Duran\tx\ty\n")
    code, text = run_main(capsys, "recommend", "user", "99999", "--data", tmp_path)
    assert_error(code, text, "unknown Last.fm user 99999")


def test_tilde_is_expanded_in_path_options(capsys, monkeypatch, tmp_path, lightgbm_model):
    # `--out ~/x` made a folder literally named "~"
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    data = tmp_path / "data"
    data.mkdir()
    from conftest import make_feature_frame

    make_feature_frame(20, seed=2).drop(columns="genre").to_csv(
        data / "spotify_dataset_test.csv", index=False
    )
    code, text = run_main(
        capsys, "genre", "predict", "--model", lightgbm_model, "--data", "~/data",
        "--out=~/answers",
    )  # fmt: skip
    assert code == 0, text
    assert (tmp_path / "answers" / "genre.csv").is_file()
    assert not (tmp_path / "~").exists()


# ----------------------------------------------------------------------------- Ctrl-C


def _importing(pid: int, library: str) -> bool:
    try:
        return library in open(f"/proc/{pid}/maps").read()
    except OSError:
        return False


def test_ctrl_c_during_start_up_prints_one_line(genre_data, tmp_path):
    # was a KeyboardInterrupt traceback from inside an import; the signal is sent as soon
    # as numpy's C extension is mapped, i.e. in the middle of the imports
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "aares",
            "genre",
            "describe",
            "--data",
            genre_data,
            "--out",
            tmp_path,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while not _importing(proc.pid, "_multiarray_umath") and proc.poll() is None:
        assert time.monotonic() < deadline
        time.sleep(0.002)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert "Traceback" not in err, err
    assert proc.returncode == INTERRUPTED, (proc.returncode, out, err)
    assert err.strip() == "aares: interrupted"
