"""Model files (issue 14, item 1): a damaged or hostile ``.skops`` file gives a one-line
error, never a crash, a hang, garbage predictions or gigabytes of memory.

Each case edits a real (tiny) aares model in code. Before the checks of
``aares.modelcheck``, the commented cases crashed ``aares genre predict``: exit 139
(segmentation fault), 134 (abort) or a hang.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from pathlib import Path

import numpy as np
import pytest

from aares.genre.persist import load_model, save_model
from aares.modelcheck import MAX_RATIO, ModelFileError, check_lightgbm_text

from .helpers import assert_one_line_error, run_aares, snapshot


def _members(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as z:
        return {name: z.read(name) for name in z.namelist()}


def _write(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return path


def _boosters(node):
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if item.get("__class__") == "Booster":
                yield item
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def _fix_tree_sizes(text: str) -> str:
    # keep LightGBM's byte offsets right, so the edit itself is what is tested
    head, _, rest = text.partition("\nTree=0\n")
    trees, _, tail = ("Tree=0\n" + rest).partition("end of trees")
    blocks = [b for b in re.split(r"(?=^Tree=\d+\n)", trees, flags=re.M) if b]
    sizes = " ".join(str(len(b.encode())) for b in blocks)
    return (
        re.sub(r"tree_sizes=.*", "tree_sizes=" + sizes, head)
        + "\n"
        + "".join(blocks)
        + ("end of trees" + tail)
    )


def edit_booster(src: Path, dst: Path, edit, fix_sizes: bool = True) -> Path:
    """Copy model ``src`` to ``dst`` with its first LightGBM booster's text edited."""
    members = _members(src)
    schema = json.loads(members["schema.json"])
    handle = next(_boosters(schema))["content"]["content"]["_handle"]
    text = edit(json.loads(handle["content"]))
    handle["content"] = json.dumps(_fix_tree_sizes(text) if fix_sizes else text)
    members["schema.json"] = json.dumps(schema).encode()
    return _write(dst, members)


def first_tree_field(path: Path, key: str) -> str:
    schema = json.loads(_members(path)["schema.json"])
    text = json.loads(next(_boosters(schema))["content"]["content"]["_handle"]["content"])
    return re.search(rf"^{key}=(.*)$", text, flags=re.M).group(1)


def replace_field(key: str, new):
    """An edit replacing the first tree's ``key=...`` line with ``new(old_values)``."""

    def edit(text: str) -> str:
        def sub(match):
            return f"{key}={new(match.group(1).split(' '))}"

        return re.sub(rf"^{key}=(.*)$", sub, text, count=1, flags=re.M)

    return edit


def predict(model: Path, data: Path, out: Path):
    return run_aares("genre", "predict", "--model", model, "--data", data, "--out", out)


# ----------------------------------------------------------------------------- crashes


CRASHES = {
    # was exit 139 (segmentation fault): a child index past the end of the tree
    "right_child_99": (replace_field("right_child", lambda v: " ".join(["99"] + v[1:])), "99"),
    # was a hang: the root's child is the root
    "self_loop": (replace_field("right_child", lambda v: " ".join(["0"] + v[1:])), "node 0"),
    # was exit 134 (abort in LightGBM's parser threads): counts that do not match num_leaves
    "num_leaves_500": (replace_field("num_leaves", lambda v: "500"), "num_leaves=500"),
}


@pytest.mark.parametrize("case", sorted(CRASHES))
def test_damaged_tree_is_refused_not_a_crash(case, lightgbm_model, genre_data, tmp_path):
    edit, words = CRASHES[case]
    bad = edit_booster(lightgbm_model, tmp_path / "bad.skops", edit)
    out = tmp_path / "out"
    result = predict(bad, genre_data, out)
    assert_one_line_error(result, "bad.skops", "LightGBM", words)
    assert snapshot(out) == {}  # no answer file written


def test_wrong_tree_sizes_is_refused_not_a_crash(lightgbm_model, genre_data, tmp_path):
    # was exit 139: LightGBM reads each tree at the offset tree_sizes gives
    def edit(text):
        return re.sub(r"tree_sizes=(\d+)", lambda m: f"tree_sizes={int(m[1]) + 99_000}", text)

    bad = edit_booster(lightgbm_model, tmp_path / "bad.skops", edit, fix_sizes=False)
    result = predict(bad, genre_data, tmp_path / "out")
    assert_one_line_error(result, "bad.skops", "tree_sizes")


def test_damaged_popularity_model_is_refused(popularity_model, tmp_path):
    # `popularity predict` loads through the same checks
    model, songs = popularity_model
    bad = edit_booster(model, tmp_path / "bad.skops", CRASHES["right_child_99"][0])
    out = tmp_path / "pred.csv"
    result = run_aares("popularity", "predict", songs, "--model", bad, "--out", out)
    assert_one_line_error(result, "bad.skops", "99")
    assert not out.exists()


# ----------------------------------------------------------------------------- garbage


GARBAGE = {
    # these loaded and predicted silently wrong genres before
    "leaf_out_of_range": (
        replace_field("left_child", lambda v: " ".join(v[:-1] + ["-99"])),
        "leaf 98",
    ),
    "feature_out_of_range": (
        replace_field("split_feature", lambda v: " ".join(v[:-1] + ["9999"])),
        "split_feature 9999",
    ),
    "threshold_nan": (replace_field("threshold", lambda v: " ".join(["nan"] + v[1:])), "finite"),
    "leaf_value_inf": (
        replace_field("leaf_value", lambda v: " ".join(["1e999"] + v[1:])),
        "finite",
    ),
    "num_class": (lambda t: t.replace("num_class=3", "num_class=30", 1), "num_class"),
    "nul_byte": (lambda t: t.replace("Column_3", "Column\x003", 1), "NUL"),
    "unknown_header": (lambda t: t.replace("\nversion=v4", "\nversion=v4\nrun=rm -rf", 1), "run"),
    "linear_tree": (lambda t: t.replace("is_linear=0", "is_linear=1", 1), "linear"),
}


@pytest.mark.parametrize("case", sorted(GARBAGE))
def test_inconsistent_tree_is_refused(case, lightgbm_model, tmp_path):
    edit, words = GARBAGE[case]
    bad = edit_booster(lightgbm_model, tmp_path / "bad.skops", edit)
    with pytest.raises(ModelFileError, match=re.escape(words)):
        load_model(bad)


def test_a_tree_reached_twice_is_a_cycle():
    text = "\n".join(
        [
            "tree", "version=v4", "num_class=1", "num_tree_per_iteration=1", "label_index=0",
            "max_feature_idx=0", "objective=regression", "feature_names=a", "feature_infos=none",
        ]
    )  # fmt: skip
    tree = (
        "Tree=0\nnum_leaves=3\nnum_cat=0\nsplit_feature=0 0\nthreshold=1 2\n"
        "left_child=1 1\nright_child=-1 -2\nleaf_value=1 2 3\n\n\n"
    )
    text += f"\ntree_sizes={len(tree)}\n\n{tree}end of trees\n"
    with pytest.raises(ModelFileError, match="reached twice"):
        check_lightgbm_text(text)


def test_the_saved_model_passes_and_predicts(lightgbm_model, genre_data, tmp_path):
    result = predict(lightgbm_model, genre_data, tmp_path / "out")
    assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp_path / "out" / "genre.csv").is_file()


# ----------------------------------------------------------------------------- scikit-learn trees


def _edit_sklearn_tree(src: Path, dst: Path, edit) -> Path:
    members = _members(src)
    schema = json.loads(members["schema.json"])
    stack, tree = [schema], None
    while stack and tree is None:
        item = stack.pop()
        if isinstance(item, dict):
            if item.get("__class__") == "Tree" and item.get("__module__") == "sklearn.tree._tree":
                tree = item
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    name = tree["content"]["content"]["nodes"]["file"]
    nodes = np.load(io.BytesIO(members[name]))
    edit(nodes)
    buf = io.BytesIO()
    np.save(buf, nodes)
    members[name] = buf.getvalue()
    return _write(dst, members)


def test_damaged_sklearn_tree_is_refused_not_a_crash(forest_model, genre_data, tmp_path):
    def edit(nodes):
        nodes["right_child"][0] = 10**6  # was a read far outside the node array

    bad = _edit_sklearn_tree(forest_model, tmp_path / "bad.skops", edit)
    result = predict(bad, genre_data, tmp_path / "out")
    assert_one_line_error(result, "bad.skops", "scikit-learn tree")


def test_sklearn_tree_cycle_is_refused(forest_model, tmp_path):
    def edit(nodes):
        split = np.flatnonzero(nodes["left_child"] != -1)
        nodes["left_child"][split[1]] = 0  # back to the root

    bad = _edit_sklearn_tree(forest_model, tmp_path / "bad.skops", edit)
    with pytest.raises(ModelFileError, match="backwards"):
        load_model(bad)


# ----------------------------------------------------------------------------- size and kind


def test_zip_bomb_is_refused_before_unpacking(lightgbm_model, genre_data, tmp_path):
    # a 40 MB member that deflates to ~40 KB: refused from the zip directory alone
    members = _members(lightgbm_model)
    members["bomb.npy"] = b"\0" * (40 * 1024**2)
    bad = _write(tmp_path / "bomb.skops", members)
    assert bad.stat().st_size * MAX_RATIO < 40 * 1024**2
    result = predict(bad, genre_data, tmp_path / "out")
    assert_one_line_error(result, "bomb.skops", "zip bomb")


def test_a_bomb_member_hidden_in_a_large_file_is_refused(lightgbm_model, tmp_path):
    # 4 MB of incompressible bytes keep the whole file's ratio ordinary (~11x)
    members = _members(lightgbm_model)
    members["noise.bin"] = np.random.default_rng(0).bytes(4 * 1024**2)
    members["bomb.npy"] = b"\0" * (40 * 1024**2)
    bad = _write(tmp_path / "hidden.skops", members)
    with pytest.raises(ModelFileError, match="member 'bomb.npy' unpacks"):
        load_model(bad)


def test_a_bomb_inside_the_card_arrays_is_refused(lightgbm_model, tmp_path):
    # the card's arrays are an npz: a zip inside the zip, with its own deflate
    from aares.genre.model import GenreModel

    buf = io.BytesIO()
    np.savez_compressed(buf, cal_labels=np.zeros(5 * 1024**2))  # 40 MB -> ~40 kB
    members = _members(lightgbm_model)
    members["aares-arrays.npz"] = buf.getvalue()
    bad = tmp_path / "arrays.skops"
    with zipfile.ZipFile(bad, "w") as z:  # stored: the outer ratio looks harmless
        for name, data in members.items():
            z.writestr(name, data)
    with pytest.raises(ModelFileError, match="aares-arrays.npz: .*unpacks"):
        GenreModel.load(bad)


def test_array_header_larger_than_its_member_is_refused(lightgbm_model, tmp_path):
    members = _members(lightgbm_model)
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": "<f8", "fortran_order": False, "shape": (10**9,)}
    )
    members["big.npy"] = b"\x93NUMPY\x01\x00" + header.getvalue()[8:]
    bad = _write(tmp_path / "big.skops", members)
    with pytest.raises(ModelFileError, match="declares shape"):
        load_model(bad)


def test_a_dict_is_not_a_model(tmp_path):
    # was AttributeError: 'dict' object has no attribute 'predict' (a traceback)
    bad = save_model({"genre": "pop"}, tmp_path / "dict.skops")
    with pytest.raises(ModelFileError, match="dict.skops: holds a dict, not a model"):
        load_model(bad)


def test_a_genre_model_is_not_a_popularity_model(forest_model, tmp_path):
    from aares.popularity.persist import load_model as load_popularity

    with pytest.raises(ModelFileError, match="not a regressor"):
        load_popularity(forest_model)


def test_booster_without_model_text_is_refused(lightgbm_model, tmp_path):
    # a NULL handle would reach LightGBM's C API at predict time
    members = _members(lightgbm_model)
    schema = json.loads(members["schema.json"])
    next(_boosters(schema))["content"]["content"]["_handle"] = {
        "__class__": "NoneType", "__module__": "builtins", "__loader__": "JsonNode",
        "content": "null", "is_json": True,
    }  # fmt: skip
    members["schema.json"] = json.dumps(schema).encode()
    bad = _write(tmp_path / "null.skops", members)
    with pytest.raises(ModelFileError, match="not stored as model text"):
        load_model(bad)
