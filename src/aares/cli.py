"""The ``aares`` command line: one entry point that composes the capabilities.

Each capability lives in ``aares/<capability>/`` and brings its own Typer sub-app
(``aares/<capability>/cli.py``); this module only mounts them and runs the main job.
"""

from __future__ import annotations

import importlib
import time
from pathlib import Path

import typer

from aares import __version__
from aares.console import console
from aares.errors import DataError


class _Group(typer.core.TyperGroup):
    """Typer's group, with a ``--help`` flag that is False (not None) when not given.

    Typer coerces a parameter's None through a pydantic TypeAdapter, and importing pydantic
    costs ~0.1 s of CPU: `aares genre --help` paid it for the top level's unused ``--help``.
    A plain bool is passed through, so help loads no pydantic.
    """

    def get_help_option(self, ctx):
        option = super().get_help_option(ctx)
        if option is not None and option.default is None:
            option.default = False
        return option


app = typer.Typer(
    cls=_Group,
    name="aares",
    help="Music data toolkit: genres, popularity, recommendation, audio fingerprints, "
    "conformal prediction.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",
)

# Sub-apps, mounted as `aares <name> ...`: (name, module path of a Typer app).
SUBCOMMANDS: list[tuple[str, str]] = [
    # capabilities add their line here
    ("genre", "aares.genre.cli"),
    ("fp", "aares.fingerprint.cli"),
    ("explore", "aares.explore.cli"),
    ("conformal", "aares.conformal.cli"),
    ("popularity", "aares.popularity.cli"),
    ("recommend", "aares.recommend.cli"),
]

# The main job, `aares run-all`: (title, "module:function"), each called as f(data_dir, out_dir).
RUN_ALL_STEPS: list[tuple[str, str]] = [
    # capabilities add their step here, in the order they should run
    ("Genre classification (Exercise 1)", "aares.genre.jobs:run_all_step"),
    ("Tour of the data", "aares.explore.jobs:run_all_step"),
    ("Popularity (Exercise 2)", "aares.popularity.jobs:run_all_step"),
    ("Audio fingerprints", "aares.fingerprint.jobs:run_all_step"),
    ("Song recommendation (Exercise 3)", "aares.recommend.jobs:run_all_step"),
    ("Conformal prediction (bonus)", "aares.conformal.jobs:run_all_step"),
    ("Report", "aares.report.jobs:run_all_step"),  # keep last: it reuses the steps' outputs
]


def _load(target: str):
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)


for _name, _module in SUBCOMMANDS:
    app.add_typer(_load(_module + ":app"), name=_name, cls=_Group)


def version_callback(value: bool) -> None:
    if value:
        console.print(f"aares {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: bool = typer.Option(
        False, "--version", callback=version_callback, is_eager=True, help="Show the version."
    ),
) -> None:
    """aares: a toolkit for music data. Run a sub-command with --help for its options."""


@app.command("run-all")
def run_all(
    data: Path = typer.Option(Path("data"), "--data", envvar="AARES_DATA", help="Data folder."),
    out: Path = typer.Option(Path("out"), "--out", help="Folder for every output."),
) -> None:
    """Run the main job end to end: every capability's step on the data folder."""
    if not data.is_dir():
        console.print(f"[red]error:[/] data folder {data} not found (set --data or AARES_DATA)")
        raise typer.Exit(2)
    from aares.report.jobs import ReportFailed

    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    for title, target in RUN_ALL_STEPS:
        console.rule(title)
        t0 = time.perf_counter()
        try:
            _load(target)(data, out)
        except (DataError, ReportFailed) as exc:
            console.print(f"[red]error:[/] {exc}")
            raise typer.Exit(1) from None
        console.print(f"[green]{title}[/] done in {time.perf_counter() - t0:.1f} s")
    console.print(f"All steps done in {time.perf_counter() - start:.1f} s; outputs in {out}/")


# `aares report` is a top-level command (not a group), defined with the report package.
from aares.report.cli import report as _report  # noqa: E402

app.command("report")(_report)


# `aares serve` is a top-level command too; FastAPI and uvicorn load only when it runs.
from aares.service.cli import serve as _serve  # noqa: E402

app.command("serve")(_serve)
