"""The handout's Figures 1 and 2 (aares.fingerprint.plots) on small synthetic songs."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
from typer.testing import CliRunner

from aares.fingerprint import course
from aares.fingerprint.cli import plot_app

runner = CliRunner()


def _song(seed, seconds=40.0, sr=8000):
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    x = 0.01 * rng.standard_normal(t.size)
    for start in np.arange(0, seconds, 0.25):
        on = (t >= start) & (t < start + 0.3)
        x[on] += rng.uniform(0.1, 0.3) * np.sin(2 * np.pi * rng.uniform(80, 1400) * t[on])
    return x.astype(np.float32), sr


def _is_png(path):
    return path.is_file() and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plot_commands_write_pngs(tmp_path):
    songs = tmp_path / "songs"
    songs.mkdir()
    for i in range(3):
        x, sr = _song(i)
        sf.write(songs / f"song{i}.flac", x, sr)
    x, sr = _song(1)
    sf.write(tmp_path / "excerpt.wav", x[8 * sr : 20 * sr], sr)

    out1 = tmp_path / "fig1.png"
    res = runner.invoke(plot_app, ["spectrogram", str(songs / "song0.flac"), "-o", str(out1)])
    assert res.exit_code == 0, res.output
    assert _is_png(out1)

    db = tmp_path / "db.npz"
    course.save_dataset(db, *course.build_dataset(course.song_files(songs)))
    for source, name in ((db, "fig2.png"), (songs, "fig2_folder.png")):
        out2 = tmp_path / name
        res = runner.invoke(plot_app, ["match", str(tmp_path / "excerpt.wav"), "--db", str(source),
                                       "-o", str(out2)])  # fmt: skip
        assert res.exit_code == 0, res.output
        assert _is_png(out2)


def test_plot_commands_fail_with_one_clear_line(tmp_path):
    bad = tmp_path / "not_audio.mp3"
    bad.write_text("hello")
    res = runner.invoke(plot_app, ["spectrogram", str(bad), "-o", str(tmp_path / "x.png")])
    assert res.exit_code == 1
    assert "not_audio.mp3" in res.output and "Traceback" not in res.output
    res = runner.invoke(plot_app, ["match", str(bad), "--db", str(tmp_path / "none.npz")])
    assert res.exit_code == 1 and "none.npz" in res.output


def test_match_figure_from_an_engine_catalog(tmp_path):
    catalog_mod = pytest.importorskip("aares.fingerprint.catalog")
    songs = tmp_path / "songs"
    songs.mkdir()
    for i in range(2):
        x, sr = _song(10 + i, seconds=30.0)
        sf.write(songs / f"song{i}.wav", x, sr)
    x, sr = _song(11, seconds=30.0)
    sf.write(tmp_path / "excerpt.wav", x[5 * sr : 15 * sr], sr)
    db = tmp_path / "catalog.db"
    with catalog_mod.Catalog(db, profile="default") as catalog:
        catalog.add([songs])
    out = tmp_path / "fig2.png"
    res = runner.invoke(plot_app, ["match", str(tmp_path / "excerpt.wav"), "--db", str(db),
                                   "-o", str(out)])  # fmt: skip
    assert res.exit_code == 0, res.output
    assert _is_png(out)
