"""aares report: sections collected from providers, rendered to HTML and PDF."""

from __future__ import annotations

import io
from html import escape
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pypdf import PdfReader
from typer.testing import CliRunner

import aares.report.build as build
from aares.cli import app
from aares.plotting import save_figure, subplots
from aares.report.build import REGISTRY, build_report, collect_sections, describe_data_files
from aares.report.format import human_bytes, table_cells
from aares.report.section import Figure, Heading, Note, Section, Table, Text


def _png(path: Path, seed: int) -> Path:
    rng = np.random.default_rng(seed)
    fig, ax = subplots(figsize=(4, 3))
    ax.plot(rng.random(10))
    ax.set_title(f"figure {seed}")
    return save_figure(fig, path)


def fake_provider(name: str, n_figures: int):
    """A provider like a capability's report_section, with its own figures."""

    def provider(data_dir: Path, out_dir: Path) -> Section:
        folder = out_dir / name
        table = pd.DataFrame(
            {"model": ["mean", "ridge"], "R2": [0.0, 0.2345], "songs": [8698, 12]}
        ).set_index("model")
        blocks = [Text(f"{name}: R2 0.23 in 5-fold CV.\n\nA second paragraph about Björk.")]
        for i in range(n_figures):
            blocks += [
                Heading(f"{name} figure {i}"),
                Figure(_png(folder / f"f{i}.png", hash((name, i)) % 1000), f"Caption {i}"),
            ]
        blocks += [Table(table, "Scores"), Note("Seed 0; 5 folds.", "warning")]
        return Section(f"Section {name}", blocks, {"folds": "5", "seed": "0"})

    return provider


def broken_provider(data_dir: Path, out_dir: Path) -> Section:
    raise RuntimeError("model file is damaged")


@pytest.fixture
def data_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "data"
    folder.mkdir()
    pd.DataFrame({"a": [1, 2, 3], "b": ["x", "y\nz", "w"]}).to_csv(
        folder / "small.csv", index=False
    )
    return folder


FAKES = [
    ("Alpha", fake_provider("alpha", 2)),
    ("Beta", fake_provider("beta", 1)),
    ("Not built yet", "aares.no_such_capability.report:report_section"),
]


def pdf_images(path: Path) -> int:
    reader = PdfReader(io.BytesIO(path.read_bytes()))
    return sum(len(page.images) for page in reader.pages)


def test_report_has_every_section_in_html_and_pdf(data_folder: Path, tmp_path: Path) -> None:
    result = build_report(data_folder, tmp_path / "out", registry=FAKES, strict=True)
    report = result.report
    assert [o.status for o in report.outcomes] == ["ok", "ok", "missing"]
    html = result.paths["html"].read_text(encoding="utf-8")
    pdf = result.paths["pdf"]
    for title in ["Section alpha", "Section beta", "Not built yet", "About this report"]:
        assert title in html
    # self-contained: every figure embedded, nothing fetched from elsewhere
    assert html.count('<img src="data:image/png;base64,') == 3
    assert "http://" not in html and "https://" not in html
    assert "aares.no_such_capability.report:report_section is not part" in html
    assert "small.csv" in html and "R2" in html and "0.234" in html
    # the PDF: valid, same sections, one image per figure
    assert pdf.read_bytes()[:5] == b"%PDF-"
    reader = PdfReader(io.BytesIO(pdf.read_bytes()))
    text = "\n".join(page.extract_text() for page in reader.pages)
    for title in ["Section alpha", "Section beta", "Not built yet", "Björk", "small.csv"]:
        assert title in text
    assert pdf_images(pdf) == 3
    titles = [o.title for o in reader.outline if not isinstance(o, list)]
    assert titles[-3:] == ["1. Section alpha", "2. Section beta", "3. Not built yet"]


def test_failing_section_is_an_error_box_unless_strict(data_folder: Path, tmp_path: Path):
    registry = [*FAKES[:1], ("Broken", broken_provider)]
    with pytest.raises(RuntimeError, match="damaged"):
        build_report(data_folder, tmp_path / "strict", registry=registry, strict=True)
    result = build_report(data_folder, tmp_path / "out", registry=registry)
    assert [o.status for o in result.report.outcomes] == ["ok", "error"]
    assert result.report.failed[0].title == "Broken"
    html = result.paths["html"].read_text(encoding="utf-8")
    assert 'class="note error"' in html and "RuntimeError: model file is damaged" in html
    text = "".join(p.extract_text() for p in PdfReader(result.paths["pdf"]).pages)
    assert "model file is damaged" in text


def test_provider_must_return_a_section(data_folder: Path, tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="not a Section"):
        collect_sections(data_folder, tmp_path, [("Odd", lambda d, o: "text")], strict=True)


def test_a_missing_figure_fails_its_section_only(data_folder: Path, tmp_path: Path) -> None:
    def lost(data_dir: Path, out_dir: Path) -> Section:
        return Section("Lost", [Figure(out_dir / "gone.png", "never drawn")])

    with pytest.raises(ValueError, match="gone.png not found"):
        collect_sections(data_folder, tmp_path, [("Lost", lost)], strict=True)
    result = build_report(data_folder, tmp_path / "out", registry=[("Lost", lost), *FAKES[:1]])
    assert [o.status for o in result.report.outcomes] == ["error", "ok"]


def test_data_files_are_described(data_folder: Path) -> None:
    (files,) = describe_data_files(data_folder)
    assert files.name == "small.csv" and files.rows == 3  # a quoted line break is one row
    assert files.bytes == (data_folder / "small.csv").stat().st_size
    assert human_bytes(1_791_626) == "1.7 MB" and human_bytes(512) == "512 B"
    lastfm = data_folder / "interactions" / "lastfm"
    lastfm.mkdir(parents=True)
    (lastfm / "user_artists.dat").write_text("//userID\tartistID\tweight\n2\t51\t13\n3\t5\t1\n")
    (lastfm / "artists.dat").write_bytes(b"1\tMALICE MIZER\n2\tBj\xf6rk\n")  # no header, latin-1
    rows = {f.name: f.rows for f in describe_data_files(data_folder)}
    assert rows == {
        "small.csv": 3,
        "interactions/lastfm/artists.dat": 2,
        "interactions/lastfm/user_artists.dat": 2,
    }


def test_table_cells_format_and_cut() -> None:
    frame = pd.DataFrame({"x": np.arange(50) / 3, "n": np.arange(50) * 1000, "ok": True})
    cells = table_cells(Table(frame, floatfmt="{:.2f}"), max_rows=10)
    assert cells.header == ["x", "n", "ok"] and cells.numeric == [True, True, False]
    assert cells.rows[1] == ["0.33", "1000", "yes"] and cells.rows[-1][1] == "9000"
    assert len(cells.rows) == 10 and cells.note == "first 10 of 50 rows"
    named = frame.head(2).rename_axis("song")
    assert table_cells(Table(named)).header[0] == "song"


def test_report_cli_exit_codes(data_folder: Path, tmp_path: Path, monkeypatch) -> None:
    runner = CliRunner()
    out = tmp_path / "out"
    monkeypatch.setattr(build, "REGISTRY", FAKES)
    ok = runner.invoke(app, ["report", "--data", str(data_folder), "--out", str(out), "--no-pdf"])
    assert ok.exit_code == 0, ok.output
    assert (out / "report" / "report.html").is_file()
    assert not (out / "report" / "report.pdf").exists()
    monkeypatch.setattr(build, "REGISTRY", [*FAKES, ("Broken", broken_provider)])
    bad = runner.invoke(app, ["report", "--data", str(data_folder), "--out", str(out)])
    assert bad.exit_code == 1
    assert "Broken" in bad.output and "Traceback" not in bad.output
    assert (out / "report" / "report.pdf").is_file()  # the rest is still written
    missing = runner.invoke(app, ["report", "--data", str(tmp_path / "nope"), "--out", str(out)])
    assert missing.exit_code == 1 and "not found" in missing.output


def test_registry_order_and_report_is_the_last_run_all_step() -> None:
    from aares.cli import RUN_ALL_STEPS

    modules = [t.split(".")[1] for _, t in REGISTRY]
    assert modules == ["genre", "explore", "popularity", "recommend", "conformal"]
    assert len({t for _, t in REGISTRY}) == len(REGISTRY)
    assert RUN_ALL_STEPS[-1] == ("Report", "aares.report.jobs:run_all_step")


def test_every_landed_provider_resolves() -> None:
    """Each registry entry is a module not written yet, or a provider f(data_dir, out_dir)."""
    import inspect

    for _, target in REGISTRY:
        provider = build._resolve(target)
        if provider is not None:
            assert callable(provider), target
            assert len(inspect.signature(provider).parameters) == 2, target


def sample_course_data(data_dir: Path, folder: Path, n: int) -> Path:
    """About ``n`` rows of each course CSV file: the training file as many songs of each genre,
    the recommendation catalogue the songs of the sampled subset (Exercise 3 reads their
    micro-genres by id) topped up at random, the other files at random."""
    folder.mkdir()
    catalogue_last = sorted(data_dir.glob("*.csv"), key=lambda p: "recommendation" in p.name)
    for path in catalogue_last:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        if path.name == "spotify_dataset_recommendation.csv":
            subset = pd.read_csv(folder / "spotify_dataset_subset.csv", dtype=str)
            shared = frame[frame["id"].isin(subset["id"])]
            rest = frame.drop(shared.index).sample(n=n - len(shared), random_state=0)
            frame = pd.concat([shared, rest])
        elif "genre" in frame:  # every genre keeps a few songs (held-out splits need them)
            per_genre = max(n // frame["genre"].nunique(), 8)
            frame = frame.groupby("genre").sample(n=per_genre, random_state=0)
        else:
            frame = frame.sample(n=min(len(frame), n), random_state=0)
        frame.to_csv(folder / path.name, index=False)
    return folder


@pytest.mark.data
@pytest.mark.slow
def test_every_section_builds_on_a_sample_of_the_course_data(
    data_dir: Path, tmp_path: Path
) -> None:
    """The whole report, every registered section computing its own outputs, on 600 rows of
    each course file: each section is there, none failed, every figure is in the HTML and
    the PDF, and the data files are listed with their rows."""
    sample = sample_course_data(data_dir, tmp_path / "data", 600)
    result = build_report(sample, tmp_path / "out", strict=True)
    report = result.report
    assert [o.status for o in report.outcomes] == ["ok"] * len(REGISTRY)
    titles = [s.title for s in report.sections]
    assert [t.split(":")[0] for t in titles[:4]] == [
        "Exercise 1",
        "Exercise 2",
        "Exercise 2",
        "Exercise 3",
    ]
    assert "conformal" in titles[4].lower()
    figures = [len(s.figures()) for s in report.sections]
    assert figures[1] == 9 and min(figures) >= 1  # the tour draws 9
    html = result.paths["html"].read_text(encoding="utf-8")
    for title in titles:
        assert escape(title) in html
    assert html.count('<img src="data:image/png;base64,') == sum(figures)
    pdf = result.paths["pdf"]
    assert pdf.read_bytes()[:5] == b"%PDF-"
    assert pdf_images(pdf) == sum(figures)
    outline = [o.title for o in PdfReader(pdf).outline if not isinstance(o, list)]
    assert outline[-5:] == [f"{i}. {t}" for i, t in enumerate(titles, 1)]
    rows = {f.name: f.rows for f in report.files}
    assert rows["spotify_dataset_subset.csv"] == 600
    assert rows["spotify_dataset_recommendation.csv"] == 600
    # rebuilding reuses what the first build wrote: same numbers, same figures
    again = build_report(sample, tmp_path / "out", strict=True)
    assert again.report.sections[1].settings["tour"].startswith("reused")
    assert [len(s.figures()) for s in again.report.sections] == figures
