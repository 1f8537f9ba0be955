"""Fixtures of the robustness suite: tiny trained models and course files, built once."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/conftest.py helpers

from conftest import make_feature_frame  # noqa: E402


@pytest.fixture(scope="session")
def genre_data(tmp_path_factory) -> Path:
    """A data folder with a small training and challenge file."""
    folder = tmp_path_factory.mktemp("data")
    make_feature_frame(200, seed=1).to_csv(folder / "spotify_dataset_train.csv", index=False)
    test = make_feature_frame(40, seed=2).drop(columns="genre")
    test.to_csv(folder / "spotify_dataset_test.csv", index=False)
    return folder


def _genre_model(name: str, genre_data: Path, path: Path) -> Path:
    """A genre model file as `aares genre train` writes it (skops archive + model card)."""
    from aares.data import load_train
    from aares.genre.model import GenreModel

    train = load_train(genre_data / "spotify_dataset_train.csv")
    model = GenreModel(model=name, folds=0)
    source = genre_data / "spotify_dataset_train.csv"
    model.fit(train.drop(columns="genre"), train["genre"].to_numpy(), source=source)
    return model.save(path)


@pytest.fixture(scope="session")
def lightgbm_model(genre_data, tmp_path_factory) -> Path:
    """A LightGBM genre model (LightGBM's trees)."""
    return _genre_model("lightgbm", genre_data, tmp_path_factory.mktemp("models") / "lgbm.skops")


@pytest.fixture(scope="session")
def forest_model(genre_data, tmp_path_factory) -> Path:
    """An extra-trees genre model (scikit-learn trees)."""
    folder = tmp_path_factory.mktemp("models")
    return _genre_model("extra_trees", genre_data, folder / "forest.skops")


def subset_frame(n: int):
    """A frame with the Exercise 2 subset's columns."""
    frame = make_feature_frame(n, seed=5).drop(columns="genre")
    frame["artist_name"] = [f"artist {i % 30}" for i in range(len(frame))]
    frame["track_name"] = [f"song {i}" for i in range(len(frame))]
    frame["genres"] = [["rock"] if i % 2 else ["pop"] for i in range(len(frame))]
    frame["id"] = [f"id{i}" for i in range(len(frame))]
    frame["popularity"] = (frame["energy"] * 60).round().astype(int)
    return frame


@pytest.fixture(scope="session")
def popularity_model(tmp_path_factory) -> tuple[Path, Path]:
    """A small popularity model file and a CSV of songs to predict."""
    from aares.popularity.model import PopularityModel

    frame = subset_frame(200)
    folder = tmp_path_factory.mktemp("popularity")
    model = PopularityModel("lightgbm_audio", folds=0).fit(frame)
    frame.drop(columns="popularity").to_csv(folder / "songs.csv", index=False)
    return model.save(folder / "popularity.skops"), folder / "songs.csv"


@pytest.fixture
def readonly_dir(tmp_path):
    """A folder nobody may write to: chmod 555, or a read-only tmpfs for root (root ignores
    permissions); skipped when neither is possible."""
    import os
    import subprocess

    folder = tmp_path / "readonly"
    folder.mkdir()
    if os.geteuid() != 0:
        folder.chmod(0o555)
        yield folder
        folder.chmod(0o755)
        return
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", str(folder)], capture_output=True
    )
    if mounted.returncode:
        pytest.skip(f"cannot mount a read-only tmpfs: {mounted.stderr.decode().strip()}")
    yield folder
    subprocess.run(["umount", str(folder)], check=False)


@pytest.fixture
def full_disk(tmp_path):
    """A 64 kB tmpfs and a function that fills it to the last byte (root only; skipped
    otherwise)."""
    import os
    import subprocess

    folder = tmp_path / "full"
    folder.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(folder)], capture_output=True
    )
    if os.geteuid() != 0 or mounted.returncode:
        pytest.skip("cannot mount a small tmpfs (needs root)")

    def fill():
        with open(folder / "filler", "wb", buffering=0) as fh:
            try:
                while True:
                    fh.write(b"\0" * 512)
            except OSError:
                pass

    yield folder, fill
    subprocess.run(["umount", str(folder)], check=False)
