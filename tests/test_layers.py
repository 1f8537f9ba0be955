"""The package's layers: nothing imports an interface (`cli.py`) except `aares/cli.py`, and
every module imports on its own (no import cycle, no module that only works after another)."""

from __future__ import annotations

import ast
import itertools
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "aares"


def _module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


# `aares.__main__` runs the command line when imported, so it is left out.
MODULES = sorted(_module_name(p) for p in SRC.rglob("*.py") if p.name != "__main__.py")


def _imported(path: Path, module: str | None = None) -> list[tuple[int, str]]:
    """(line, module) of every import in the file (``module`` its dotted name), relative
    imports resolved."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = (module or _module_name(path)).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package[: len(package) - node.level + 1] + ([base] if base else []))
            found.append((node.lineno, base))
            found += [(node.lineno, f"{base}.{a.name}") for a in node.names]
    return found


def _cli_imports(path: Path, module: str | None = None) -> list[str]:
    own = module or _module_name(path)
    return [
        f"{path}:{line} imports {name}"
        for line, name in _imported(path, module)
        if name.startswith("aares") and name.split(".")[-1] == "cli" and name != own
    ]


def test_only_the_top_level_cli_imports_a_cli_module():
    offenders = [
        hit
        for path in SRC.rglob("*.py")
        if path not in (SRC / "cli.py", SRC / "__main__.py")
        for hit in _cli_imports(path)
    ]
    assert not offenders, "interfaces imported outside aares/cli.py:\n" + "\n".join(offenders)


def test_the_checker_sees_each_spelling_of_a_cli_import(tmp_path):
    probe = tmp_path / "jobs.py"
    probe.write_text(
        "from aares.popularity.cli import app\nfrom . import cli\n"
        "def f():\n    import aares.recommend.cli\n"
    )
    assert len(_cli_imports(probe, "aares.genre.jobs")) == 3


def test_every_module_imports_on_its_own():
    # In a fresh interpreter, each module is imported with no aares module loaded before it:
    # an import cycle or a hidden order dependency fails here (third-party modules stay
    # loaded between the imports, which keeps this to a few seconds).
    code = (
        "import importlib, sys, traceback\n"
        f"failed = []\nfor m in {MODULES!r}:\n"
        "    for k in [k for k in sys.modules if k == 'aares' or k.startswith('aares.')]:\n"
        "        del sys.modules[k]\n"
        "    try:\n        importlib.import_module(m)\n"
        "    except Exception as e:\n        failed.append(f'{m}: {e!r}')\n"
        "print('\\n'.join(failed)); sys.exit(1 if failed else 0)\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr[-2000:]


#: What showing the help must not load (the commands load them when they run; Typer loads
#: pydantic only to convert an option's value, ~0.1 s of CPU: `aares.cli._Group`).
HEAVY = (
    "pandas", "matplotlib", "numba", "sklearn", "scipy", "lightgbm", "fastapi", "uvicorn",
    "pydantic",
)  # fmt: skip


def test_help_of_every_group_loads_no_heavy_library():
    # In a fresh interpreter: the CLI module graph, then each group's --help.
    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from aares.cli import SUBCOMMANDS, app\n"
        "runner = CliRunner()\n"
        "groups = [[name] for name, _ in SUBCOMMANDS]\n"
        "for args in [[], *groups, ['fp', 'plot'], ['report'], ['serve'], ['run-all']]:\n"
        "    res = runner.invoke(app, [*args, '--help'])\n"
        "    assert res.exit_code == 0, (args, res.output)\n"
        f"print(' '.join(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
    assert res.stdout.split() == [], f"--help loaded {res.stdout.strip()}"


def test_the_profile_names_of_the_help_are_the_engines():
    from aares.fingerprint.cli import PROFILE_NAMES
    from aares.fingerprint.landmarks import PROFILES

    assert tuple(PROFILES) == PROFILE_NAMES


def test_importing_every_module_and_drawing_leave_global_state_alone(tmp_path):
    # matplotlib's backend and rcParams, numpy's print options, thread settings (variables
    # and the thread pools threadpoolctl sees) and the working folder, before and after
    # importing every aares module and drawing a figure with the house style.
    code = f"""
import importlib, json, os, sys
import matplotlib
matplotlib.use("svg")  # a backend aares would not pick
import numpy as np
from threadpoolctl import threadpool_info

def state():
    threads = {{k: v for k, v in os.environ.items() if k.endswith("_NUM_THREADS")}}
    pools = {{}}
    for p in threadpool_info():
        pools.setdefault(p["internal_api"], set()).add(p["num_threads"])
    return {{
        "backend": matplotlib.get_backend(),
        "rc": {{k: repr(v) for k, v in matplotlib.rcParams.items()}},
        "print": repr(np.get_printoptions()),
        "threads": threads,
        "cwd": os.getcwd(),
        "pools": {{k: sorted(v) for k, v in pools.items()}},
    }}

before = state()
for m in {MODULES!r}:
    importlib.import_module(m)
from aares.plotting import save_figure, styled, subplots

@styled
def draw(path):
    fig, ax = subplots(figsize=(2, 2))
    ax.set_title("x")
    return save_figure(fig, path)

draw({str(tmp_path / "x.png")!r})
after = state()
# libraries loaded by the imports bring pools of their own (OpenMP, a second BLAS): only the
# thread counts of the kinds of pool there before are compared
after["pools"] = {{k: v for k, v in after["pools"].items() if k in before["pools"]}}
diff = {{k: (before[k], after[k]) for k in before if before[k] != after[k]}}
if "rc" in diff:
    b, a = diff["rc"]
    diff["rc"] = {{k: (b.get(k), a.get(k)) for k in set(b) | set(a) if b.get(k) != a.get(k)}}
print(json.dumps(diff))
"""
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    assert res.stdout.strip().splitlines()[-1] == "{}", res.stdout[-2000:]
    assert (tmp_path / "x.png").read_bytes()[:4] == b"\x89PNG"


CAPABILITIES = [
    "aares.conformal",
    "aares.explore",
    "aares.fingerprint",
    "aares.genre",
    "aares.popularity",
    "aares.recommend",
    "aares.report",
    "aares.service",
]


def test_each_capability_declares_its_public_names_and_serves_them():
    # Importing the packages is light (their names load on first use); every name of
    # __all__ then resolves, and the fingerprint engine's names are the agreed ones.
    code = (
        "import importlib, sys\n"
        f"pkgs = [importlib.import_module(m) for m in {CAPABILITIES!r}]\n"
        f"print(' '.join(m for m in {HEAVY!r} if m in sys.modules))\n"
        "for p in pkgs:\n"
        "    for name in p.__all__:\n"
        "        assert getattr(p, name) is not None, (p.__name__, name)\n"
        "        assert name in dir(p), (p.__name__, name)\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    assert res.stdout.split() == [], f"importing the packages loaded {res.stdout.strip()}"
    import aares.fingerprint as fp

    assert {"Catalog", "Match", "Profile", "SongInfo", "course"} <= set(fp.__all__)
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        _ = fp.nope


def _commands(group, path=()):
    # every command of the CLI: (path, command), groups included
    yield path, group
    if hasattr(group, "list_commands"):
        ctx = group.context_class(group)
        for name in group.list_commands(ctx):
            yield from _commands(group.get_command(ctx, name), (*path, name))


@pytest.mark.parametrize("width", [80, 120])
def test_help_paragraphs_fill_the_terminal(width):
    # The docstrings are wrapped by hand at 95 columns; their help must be filled again to
    # the terminal, not broken where the source breaks (at 80 columns that left lines of
    # two words in mid-paragraph).
    import typer
    from typer.testing import CliRunner

    from aares.cli import app

    runner = CliRunner()
    checked = 0
    for path, _ in _commands(typer.main.get_command(app)):
        res = runner.invoke(app, [*path, "--help"], env={"COLUMNS": str(width)})
        assert res.exit_code == 0, (path, res.output)
        # the description: the lines before the first panel
        lines = [line.strip() for line in res.output.split("╭")[0].splitlines()]
        for line, after in itertools.pairwise(lines):
            if line and after and not after.startswith(("•", "Usage:")):
                assert len(line) >= width * 0.6, (path, line, after)
        checked += 1
    assert checked > 30
