"""What the model-file checks cost and what they stop (issue 14, item 1).

`python -m benchmarks robustness --data DIR`: trains a LightGBM genre model on 2,000
songs of the training file (300 rounds x 22 genres = 6,600 trees, as in the full model),
then measures in this process the CPU time of skops' load against each check of
:mod:`aares.modelcheck` (best of 2), and in subprocesses the exit code, message and peak
memory of ``aares genre predict`` on damaged copies of the file and on a 400 kB file that
unpacks a 400 MB array, against the undamaged file (the baseline of the same run).
"""

from __future__ import annotations

import io
import json
import re
import resource
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np

from benchmarks._common import stamp, write_section

SAMPLE = 2000


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _edit_first_tree(src: Path, dst: Path, key: str, new) -> Path:
    """Copy ``src`` with the first tree's ``key=`` values replaced by ``new(values)``,
    tree_sizes kept right (so the edit is what LightGBM meets)."""
    with zipfile.ZipFile(src) as z:
        members = {n: z.read(n) for n in z.namelist()}
    schema = json.loads(members["schema.json"])
    stack, handle = [schema], None
    while stack and handle is None:
        item = stack.pop()
        if isinstance(item, dict):
            if item.get("__class__") == "Booster":
                handle = item["content"]["content"]["_handle"]
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    text = json.loads(handle["content"])
    head, _, rest = text.partition("\nTree=0\n")
    trees, _, tail = ("Tree=0\n" + rest).partition("end of trees")
    blocks = [b for b in re.split(r"(?=^Tree=\d+\n)", trees, flags=re.M) if b]
    blocks[0] = re.sub(
        rf"^{key}=(.*)$",
        lambda m: f"{key}={new(m.group(1).split(' '))}",
        blocks[0],
        count=1,
        flags=re.M,
    )
    sizes = " ".join(str(len(b.encode())) for b in blocks)
    head = re.sub(r"tree_sizes=.*", "tree_sizes=" + sizes, head)
    handle["content"] = json.dumps(head + "\n" + "".join(blocks) + "end of trees" + tail)
    members["schema.json"] = json.dumps(schema).encode()
    with zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return dst


def _bomb(src: Path, dst: Path) -> Path:
    """``src`` with its first array replaced by 400 MB of zeros (deflated to ~400 kB)."""
    with zipfile.ZipFile(src) as z:
        members = {n: z.read(n) for n in z.namelist()}
    victim = sorted(n for n in members if n.endswith(".npy"))[0]
    buf = io.BytesIO()
    np.save(buf, np.zeros(50 * 1024**2, dtype=np.float64))
    members[victim] = buf.getvalue()
    with zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return dst


def _predict(model: Path, data: Path, out: Path) -> dict:
    """Run `aares genre predict` in a child; its exit code, last line, peak RSS, CPU."""
    script = (
        "import resource, subprocess, sys, json\n"
        "p = subprocess.run(sys.argv[1:], capture_output=True, text=True, timeout=600)\n"
        "r = resource.getrusage(resource.RUSAGE_CHILDREN)\n"
        "lines = [l for l in (p.stdout + p.stderr).splitlines() if l.strip()]\n"
        "print(json.dumps({'rc': p.returncode, 'line': lines[-1] if lines else '',\n"
        "  'rss_mb': r.ru_maxrss / 1024, 'cpu': r.ru_utime + r.ru_stime}))\n"
    )
    cmd = [sys.executable, "-m", "aares", "genre", "predict", "--model", str(model)]
    cmd += ["--data", str(data), "--out", str(out)]
    done = subprocess.run([sys.executable, "-c", script, *cmd], capture_output=True, text=True)
    return json.loads(done.stdout)


def main(data_dir: Path) -> None:
    import skops.io as sio

    from aares import modelcheck
    from aares.data import TEST_FILE, TRAIN_FILE, data_file, load_train
    from aares.genre.model import GenreModel
    from aares.genre.persist import TRUSTED_TYPES

    train = load_train(data_file(TRAIN_FILE, data_dir))
    train = train.sample(min(SAMPLE, len(train)), random_state=0).reset_index(drop=True)
    work = Path(tempfile.mkdtemp(prefix="aares-robustness-"))
    model = GenreModel(model="lightgbm", folds=0)
    model.fit(
        train.drop(columns="genre"),
        train["genre"].to_numpy(),
        source=data_file(TRAIN_FILE, data_dir),
    )
    path = model.save(work / "lightgbm.skops")

    best: dict[str, float] = {}
    for _ in range(2):
        c0 = _cpu()
        untrusted = sio.get_untrusted_types(file=path)
        loaded = sio.load(path, trusted=[t for t in untrusted if t in TRUSTED_TYPES])
        c1 = _cpu()
        modelcheck.check_archive(path)
        c2 = _cpu()
        modelcheck.check_schema(path)
        c3 = _cpu()
        modelcheck.check_loaded(loaded, path, kind="classifier")
        c4 = _cpu()
        for key, value in {"load": c1 - c0, "archive": c2 - c1, "text": c3 - c2,
                           "loaded": c4 - c3}.items():  # fmt: skip
            best[key] = min(best.get(key, np.inf), value)
    checks = best["archive"] + best["text"] + best["loaded"]

    data = work / "data"
    data.mkdir()
    (data / TEST_FILE).write_bytes(data_file(TEST_FILE, data_dir).read_bytes())
    cases = {
        "undamaged file (baseline)": path,
        "right_child of the first tree set to 99": _edit_first_tree(
            path, work / "rc99.skops", "right_child", lambda v: " ".join(["99"] + v[1:])
        ),
        "the root's child set to the root (self-loop)": _edit_first_tree(
            path, work / "loop.skops", "right_child", lambda v: " ".join(["0"] + v[1:])
        ),
        "num_leaves set to 500 (counts disagree)": _edit_first_tree(
            path, work / "leaves.skops", "num_leaves", lambda v: "500"
        ),
        "one array replaced by 400 MB of zeros (0.4 MB deflated)": _bomb(path, work / "bomb.skops"),
    }
    rows = []
    for what, file in cases.items():
        t0 = time.perf_counter()
        r = _predict(file, data, work / f"out-{file.stem}")
        rows.append(
            f"| {what} | {file.stat().st_size / 1e6:.1f} MB | {r['rc']} | {r['rss_mb']:,.0f} MB "
            f"| {r['cpu']:.1f} s | {time.perf_counter() - t0:.1f} s | "
            f"{r['line'].replace(str(work) + '/', '').replace('|', '/')[:110]} |"
        )

    text = json.loads(json.dumps(modelcheck.check_schema(path)[0].__dict__))
    md = f"""## Model-file checks (`python -m benchmarks robustness`)

{stamp()} A LightGBM genre model fitted on {len(train):,} songs of the training file
({text["n_trees"]:,} trees, {path.stat().st_size / 1e6:.1f} MB file).

CPU time, best of 2, in one process:

| step | CPU |
|---|---:|
| skops load (`get_untrusted_types` + `load`) | {best["load"]:.2f} s |
| `check_archive` (zip directory, npy headers) | {best["archive"]:.3f} s |
| `check_schema` (every LightGBM tree, in Python) | {best["text"]:.2f} s |
| `check_loaded` (tree arrays, wrappers, kind) | {best["loaded"]:.3f} s |
| all checks / load | {checks / best["load"]:.2f} |

`aares genre predict` on the file and on damaged copies (a child process each; peak RSS
and CPU of the child). Before the checks (session start, same edits by hand): exit 139
(segmentation fault), a hang, exit 134 (abort), and 17.2 GB peak RSS and 232 s before the
bomb was refused.

| model file | size | exit | peak RSS | CPU | wall | last line |
|---|---:|---:|---:|---:|---:|---|
{chr(10).join(rows)}
"""
    write_section("robustness", md)
    print(md)
