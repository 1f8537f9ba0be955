"""Start-up benchmark: `python -m benchmarks startup` (no data needed).

CPU time (user + system, of the child process: less noisy than wall time on a shared
machine) of ``import aares``, of ``aares --help`` and of every ``aares <group> --help``, each
the median of several runs, against the bare interpreter and ``import typer, rich`` measured
in the same run. Targets: ``import aares`` <= 0.1 s, every help <= 0.3 s. Also lists the
heaviest modules ``aares --help`` imports (``python -X importtime``), and what the old
eager imports cost (``import pandas, matplotlib.pyplot, sklearn``) for reference.
"""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import sys
from pathlib import Path

import pandas as pd

from aares.markdown import markdown_table
from benchmarks._common import stamp, write_section

RUNS = 7
COLUMNS = ["command", "CPU (s)", "CPU minus bare interpreter (s)", "wall (s)", "within target"]
HELP = "from aares.cli import app; app(prog_name='aares')"

#: The floor: a bare Typer app with one group of two commands, the same Rich help.
BARE_TYPER = """
import sys
from pathlib import Path
import typer
app, group = typer.Typer(), typer.Typer()
@group.command()
def one(data: Path = typer.Option(Path("data"), "--data", help="Folder."), n: int = 3):
    \"\"\"A command.\"\"\"
@group.command()
def two(x: str = typer.Argument(..., help="x")):
    \"\"\"Another.\"\"\"
app.add_typer(group, name="group")
@app.callback()
def main():
    \"\"\"Top.\"\"\"
app()
"""


#: As on a user's machine: Python may cache bytecode (this shared machine sets
#: PYTHONDONTWRITEBYTECODE, which would recompile aares's modules at every start).
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def cpu_seconds(args: list[str], runs: int = RUNS) -> tuple[float, float]:
    """Median CPU time and median wall time (s) of running ``args`` ``runs`` times (after
    one run that warms the bytecode cache)."""
    cpu, wall = [], []
    run = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, "check": True, "env": ENV}
    subprocess.run(args, **run)
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = os.times().elapsed
        subprocess.run(args, **run)
        wall.append(os.times().elapsed - t0)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return statistics.median(cpu), statistics.median(wall)


def heaviest_imports(n: int = 8) -> list[tuple[str, float]]:
    """The ``n`` top-level packages with the largest cumulative import time for the help."""
    res = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", HELP, "--help"],
        capture_output=True,
        text=True,
        check=True,
    )
    totals: dict[str, float] = {}
    for line in res.stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        _, cumulative, name = (part.strip() for part in line[len("import time:") :].split("|"))
        if not cumulative.isdigit():
            continue
        if name == name.lstrip():  # a top-level import (no indentation)
            totals[name] = totals.get(name, 0.0) + int(cumulative) / 1e6
    return sorted(totals.items(), key=lambda kv: -kv[1])[:n]


def main(data_dir: Path | None = None) -> None:
    from aares.cli import SUBCOMMANDS

    py = sys.executable
    rows: list[tuple[str, float, float, str]] = []

    def measure(label: str, args: list[str], target: float | None = None) -> None:
        cpu, wall = cpu_seconds(args)
        verdict = "" if target is None else ("yes" if cpu <= target else "**no**")
        rows.append((label, cpu, wall, verdict))
        print(f"{label}: {cpu:.3f} s CPU, {wall:.3f} s wall", flush=True)

    measure("`python -c pass` (baseline)", [py, "-c", "pass"])
    measure("`import typer, rich.console` (baseline)", [py, "-c", "import typer, rich.console"])
    measure("bare Typer app `--help` (baseline)", [py, "-c", BARE_TYPER, "--help"])
    measure("bare Typer app `group --help` (baseline)", [py, "-c", BARE_TYPER, "group", "--help"])
    measure("`import aares`", [py, "-c", "import aares"], 0.1)
    measure("`aares --help`", [py, "-c", HELP, "--help"], 0.3)
    groups = [name for name, _ in SUBCOMMANDS] + ["report", "run-all"]
    for name in groups:
        measure(f"`aares {name} --help`", [py, "-c", HELP, name, "--help"], 0.3)
    measure(
        "`import pandas, matplotlib.pyplot, sklearn` (what --help used to load)",
        [py, "-c", "import pandas, matplotlib.pyplot, sklearn"],
    )
    base = rows[0][1]
    lines = [
        "## Start-up (`python -m benchmarks startup`)",
        "",
        f"{stamp()} Load average {os.getloadavg()[0]:.1f} at the end. CPU time of the child "
        f"process (user + system), median of {RUNS} runs; "
        "wall time is noisier on this shared machine. Target: `import aares` <= 0.1 s, "
        "every help <= 0.3 s of CPU.",
        "",
        markdown_table(
            pd.DataFrame(
                [(label, cpu, cpu - base, wall, verdict) for label, cpu, wall, verdict in rows],
                columns=COLUMNS,
            )
        ),
    ]
    floor = next(cpu for label, cpu, _, _ in rows if "group --help" in label)
    worst = max(cpu for label, cpu, _, _ in rows if label.startswith("`aares ") and "help" in label)
    lines += [
        "",
        f"A group's help costs at most {worst:.3f} s here, {worst - floor:+.3f} s from a bare "
        f"Typer app's group help ({floor:.3f} s). The bare app pays ~0.1 s for pydantic: Typer "
        "converts the top level's unused `--help` flag (None) through a pydantic TypeAdapter; "
        "aares's group class makes that flag False, which Typer passes through "
        "(`aares.cli._Group`), so no help loads pydantic. Decision: keep Typer's Rich help; "
        "plain help (`rich_markup_mode=None`) would save about 0.08 s more but lose the boxed, "
        "coloured help every command shows. `--help` loads none of pandas, pydantic, "
        "matplotlib, scipy, numba, scikit-learn, LightGBM or FastAPI (tests/test_layers.py).",
    ]
    lines += ["", "Heaviest top-level imports of `aares --help` (`python -X importtime`, s):", ""]
    lines.append(", ".join(f"{name} {sec:.3f}" for name, sec in heaviest_imports()))
    write_section("startup", "\n".join(lines))


if __name__ == "__main__":
    main()
