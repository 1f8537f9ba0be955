"""Checking a model file so that a damaged or hostile one gives an error, never a crash.

skops refuses types it does not trust, but trusted types still carry data that native
code walks without bounds checks: LightGBM parses its model text in C++ (in parallel
threads, where a parse error aborts the process) and follows child indices blindly at
predict time; scikit-learn's tree predictors do the same in Cython. A ``right_child``
edited to 99 is a segmentation fault, a child pointing back at the root an endless loop.
So a model file is checked in three steps, each before the code that could crash:

1. :func:`check_archive` - the zip directory only: member count, declared sizes and
   compression ratio, and every ``.npy`` header's shape against its member's size, so
   a small file cannot unpack into gigabytes (nothing is decompressed beyond headers);
2. :func:`check_lightgbm_text` - every LightGBM booster's model text, found in the
   archive's ``schema.json`` and checked in Python before skops hands it to LightGBM:
   the layout LightGBM's parser relies on (``tree_sizes`` offsets, line counts), each
   tree's structure (child indices in range, every node reached once from the root, so
   no cycle), feature indices, finite numbers, categorical bounds;
3. :func:`check_loaded` - after loading, before any ``predict``: the arrays of
   scikit-learn trees, histogram-gradient-boosting predictors and neighbour trees
   (same structural rules), the LightGBM wrappers against their boosters (feature and
   class counts), and the kind of object (an estimator with ``predict``).

Every failure is a :class:`aares.modelcard.ModelFileError` (a ``ValueError``) naming the
file and what is wrong.
"""

from __future__ import annotations

import json
import math
import os
import re
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from aares.modelcard import ModelFileError  # one error for every model-file problem

__all__ = [
    "ModelFileError",
    "MAX_UNPACKED_BYTES",
    "MAX_RATIO",
    "check_archive",
    "check_zip",
    "check_schema",
    "check_lightgbm_text",
    "check_loaded",
    "LightGBMText",
]

#: Largest total of declared uncompressed member sizes (the best genre model unpacks to
#: about a tenth of this).
MAX_UNPACKED_BYTES = 2 * 1024**3
#: Largest ratio of unpacked bytes to the file's size (aares models deflate about 10x; a
#: deflate bomb reaches 1000x).
MAX_RATIO = 100
#: Members larger than this are held to MAX_RATIO one by one too (the best genre model's
#: members deflate at most 36x).
MEMBER_RATIO_FROM = 1024**2
#: Most members an archive may have (one per numpy array; aares models have hundreds).
MAX_MEMBERS = 200_000
#: Largest ``schema.json`` (parsed as JSON in memory).
MAX_SCHEMA_BYTES = 512 * 1024**2


def _fail(path, message: str) -> ModelFileError:
    return ModelFileError(f"{path}: {message}")


# ----------------------------------------------------------------------------- the archive


def check_archive(path: str | os.PathLike) -> None:
    """Check a skops file's zip directory and array headers before anything is loaded.

    Raises
    ------
    ModelFileError
        when the file is not a zip archive, has too many members, would unpack to more
        than :data:`MAX_UNPACKED_BYTES` or more than :data:`MAX_RATIO` times its size, or
        holds an array whose header promises more data than its member holds.
    """
    path = Path(path)
    size = path.stat().st_size
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise _fail(path, f"not a skops model file (not a zip archive: {exc})") from None
    with archive:
        if "schema.json" not in archive.namelist():
            raise _fail(path, "not a skops model file (no schema.json in the archive)")
        check_zip(archive, size, path)


def check_zip(archive: zipfile.ZipFile, size: int, path) -> None:
    """The checks of :func:`check_archive` on an open zip of ``size`` bytes (also used for
    the arrays member beside the model card, a zip inside the zip)."""
    infos = archive.infolist()
    if len(infos) > MAX_MEMBERS:
        raise _fail(path, f"{len(infos):,} archive members; at most {MAX_MEMBERS:,} expected")
    names = [i.filename for i in infos]
    if len(set(names)) != len(names):
        raise _fail(path, "archive lists a member twice")
    total = sum(i.file_size for i in infos)
    if total > MAX_UNPACKED_BYTES or total > MAX_RATIO * max(size, 1):
        raise _fail(
            path,
            f"unpacks to {total / 1e6:,.0f} MB from {size / 1e6:,.1f} MB "
            f"({total / max(size, 1):,.0f}x); refusing more than {MAX_RATIO}x or "
            f"{MAX_UNPACKED_BYTES / 1e9:.1f} GB (a damaged file or a zip bomb)",
        )
    for info in infos:
        ratio = info.file_size / max(info.compress_size, 1)
        if info.file_size > MEMBER_RATIO_FROM and ratio > MAX_RATIO:
            # one member can hide in a large file's overall ratio
            raise _fail(
                path,
                f"member {info.filename!r} unpacks {ratio:,.0f}x to "
                f"{info.file_size / 1e6:,.0f} MB; refusing more than {MAX_RATIO}x "
                "(a damaged file or a zip bomb)",
            )
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise _fail(path, f"member {info.filename!r} uses an unexpected compression")
        if info.filename == "schema.json" and info.file_size > MAX_SCHEMA_BYTES:
            raise _fail(path, f"schema.json of {info.file_size / 1e6:,.0f} MB is too large")
        if info.filename.endswith(".npy"):
            _check_npy_header(archive, info, path)


def _check_npy_header(archive: zipfile.ZipFile, info: zipfile.ZipInfo, path) -> None:
    # np.load allocates the header's shape up front: the header must fit its member
    try:
        with archive.open(info) as fh:
            version = np.lib.format.read_magic(fh)
            if version == (1, 0):
                shape, _, dtype = np.lib.format.read_array_header_1_0(fh)
            elif version == (2, 0):
                shape, _, dtype = np.lib.format.read_array_header_2_0(fh)
            else:
                raise ValueError(f"npy format version {version}")
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
        raise _fail(path, f"array member {info.filename!r} is damaged ({exc})") from None
    if dtype.hasobject:
        raise _fail(path, f"array member {info.filename!r} holds Python objects")
    need = math.prod(shape) * dtype.itemsize
    if need > info.file_size:
        raise _fail(
            path,
            f"array member {info.filename!r} declares shape {shape} ({need:,} bytes) "
            f"but holds {info.file_size:,} bytes",
        )


# ----------------------------------------------------------------------------- the schema


def _nodes(node) -> Iterator[dict]:
    """Every dict in a skops schema, depth first (iterative: schemas can be deep)."""
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            yield item
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def check_schema(path: str | os.PathLike) -> list[LightGBMText]:
    """Check every LightGBM booster stored in a skops file, before it is loaded.

    Returns the summary of each booster's model text (in schema order).
    """
    path = Path(path)
    with zipfile.ZipFile(path) as archive:
        try:
            schema = json.loads(archive.read("schema.json"))
        except (ValueError, UnicodeDecodeError, RecursionError) as exc:
            raise _fail(path, f"not a skops model file (schema.json: {exc})") from None
    found = []
    for node in _nodes(schema):
        if node.get("__class__") != "Booster" or not str(node.get("__module__", "")).startswith(
            "lightgbm"
        ):
            continue
        text = _booster_text(node, path)
        try:
            found.append(check_lightgbm_text(text))
        except ModelFileError as exc:
            raise _fail(path, f"LightGBM model {len(found) + 1}: {exc}") from None
    return found


def _booster_text(node: dict, path) -> str:
    # Booster.__setstate__ hands state["_handle"] to LightGBM's C++ parser; anything but a
    # plain JSON string there would reach native code unchecked (None: a NULL handle)
    state = node.get("content")
    handle = None
    if (
        node.get("__loader__") == "ObjectNode"
        and isinstance(state, dict)
        and state.get("__loader__") == "DictNode"
        and isinstance(state.get("content"), dict)
    ):
        handle = state["content"].get("_handle")
    if not (
        isinstance(handle, dict)
        and handle.get("__loader__") == "JsonNode"
        and handle.get("__class__") == "str"
        and isinstance(handle.get("content"), str)
    ):
        raise _fail(path, "a LightGBM booster is not stored as model text")
    try:
        text = json.loads(handle["content"])
    except ValueError:
        text = None
    if not isinstance(text, str):
        raise _fail(path, "a LightGBM booster's model text is not a string")
    return text


# ----------------------------------------------------------------------------- LightGBM text


@dataclass(frozen=True)
class LightGBMText:
    """What a checked LightGBM model text declares."""

    num_class: int
    num_tree_per_iteration: int
    n_features: int
    n_trees: int


_INT = re.compile(r"-?\d{1,10}")
_FLOAT = re.compile(r"-?\d+(?:\.\d+)?(?:[eE][-+]?\d{1,3})?")  # as LightGBM writes them
_INTS = re.compile(rf"{_INT.pattern}(?: {_INT.pattern})*")
_FLOATS = re.compile(rf"{_FLOAT.pattern}(?: {_FLOAT.pattern})*")
_BIG_EXPONENT = re.compile(r"[eE][-+]?\d{3}")
_HEADER_KEYS = {
    "version",
    "num_class",
    "num_tree_per_iteration",
    "label_index",
    "max_feature_idx",
    "objective",
    "average_output",
    "feature_names",
    "monotone_constraints",
    "feature_infos",
    "tree_sizes",
}
_OBJECTIVES = {
    "regression", "regression_l1", "huber", "fair", "poisson", "quantile", "mape", "gamma",
    "tweedie", "binary", "multiclass", "multiclassova", "cross_entropy",
    "cross_entropy_lambda", "lambdarank", "rank_xendcg", "custom",
}  # fmt: skip
#: Fields of a tree block: name -> (length: "n" leaves / "n-1" internal nodes / "1", kind)
_TREE_FIELDS = {
    "num_leaves": ("1", "int"),
    "num_cat": ("1", "int"),
    "is_linear": ("1", "int"),
    "shrinkage": ("1", "float"),
    "leaf_value": ("n", "float"),
    "leaf_weight": ("n", "float"),
    "leaf_count": ("n", "int"),
    "split_feature": ("n-1", "int"),
    "split_gain": ("n-1", "float"),
    "threshold": ("n-1", "float"),
    "decision_type": ("n-1", "int"),
    "left_child": ("n-1", "int"),
    "right_child": ("n-1", "int"),
    "internal_value": ("n-1", "float"),
    "internal_weight": ("n-1", "float"),
    "internal_count": ("n-1", "int"),
    "cat_boundaries": ("cat+1", "int"),
    "cat_threshold": ("cat", "int"),
}
#: Float fields converted to check their range; the others are checked as text.
_CONVERTED = {"leaf_value", "threshold", "shrinkage"}
#: LightGBM reads at most this many lines of a tree block.
_TREE_MAX_LINES = 22
_MAX_LEAVES = 1 << 17


def _ints(text: str, what: str) -> list[int]:
    # one regex over the whole field: per-token checks made a 23 MB model take 15 s
    if text and not _INTS.fullmatch(text):
        raise ModelFileError(f"{what}: expected whole numbers, got {_clip(text)!r}")
    values = list(map(int, text.split(" "))) if text else []
    if values and (max(values) >= 2**31 or min(values) < -(2**31)):
        raise ModelFileError(f"{what}: number out of the 32-bit range")
    return values


def _floats(text: str, what: str, *, convert: bool = True) -> list[float]:
    if text and not _FLOATS.fullmatch(text):
        raise ModelFileError(f"{what}: expected finite numbers, got {_clip(text)!r}")
    if not convert and not _BIG_EXPONENT.search(text):
        return []  # checked as text: no NaN, no inf, no exponent that overflows a double
    values = list(map(float, text.split(" "))) if text else []
    if not all(map(math.isfinite, values)):
        raise ModelFileError(f"{what}: numbers must be finite")
    return values


def _clip(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[:limit] + "..."


def _one_int(text: str, what: str, lo: int, hi: int) -> int:
    values = _ints(text, what)
    if len(values) != 1 or not lo <= values[0] <= hi:
        raise ModelFileError(f"{what}: expected one whole number in [{lo}, {hi}], got {text!r}")
    return values[0]


def check_lightgbm_text(text: str) -> LightGBMText:
    """Check a LightGBM model text (``Booster.model_to_string()``) without native code.

    Raises
    ------
    ModelFileError
        naming the tree and field that would make LightGBM's parser or predictor read
        out of bounds, loop, or abort.

    Examples
    --------
    >>> check_lightgbm_text("tree")
    Traceback (most recent call last):
    ...
    aares.modelcard.ModelFileError: no 'version' line: not a LightGBM model text
    """
    if "\x00" in text or "\r" in text:
        # NUL ends the C string early (tree offsets then point past its end); \r splits lines
        raise ModelFileError("NUL or carriage return in the model text")
    data = text.encode("utf-8")  # tree_sizes counts bytes
    lines = data.split(b"\n")
    if lines[0] != b"tree":
        raise ModelFileError("no 'tree' first line: not a LightGBM model text")
    header: dict[str, str] = {}
    offset = len(lines[0]) + 1
    for raw in lines[1:]:
        if raw.startswith(b"Tree="):
            break
        offset += len(raw) + 1
        if not raw:
            continue
        line = raw.decode("utf-8")
        key, eq, value = line.partition("=")
        if key not in _HEADER_KEYS:
            raise ModelFileError(f"unexpected header line {_clip(line)!r}")
        if key in header:
            raise ModelFileError(f"header line {key!r} given twice")
        if "=" in value and key not in ("feature_names", "monotone_constraints"):
            raise ModelFileError(f"header line {_clip(line)!r} has more than one '='")
        header[key] = value if eq else ""
    for key in ("version", "num_class", "label_index", "max_feature_idx", "feature_infos"):
        if key not in header:
            raise ModelFileError(f"no {key!r} line: not a LightGBM model text")
    if header["version"] not in ("v2", "v3", "v4"):
        raise ModelFileError(f"unsupported LightGBM model version {header['version']!r}")
    num_class = _one_int(header["num_class"], "num_class", 1, 10_000)
    per_iter = _one_int(
        header.get("num_tree_per_iteration", str(num_class)), "num_tree_per_iteration", 1, 10_000
    )
    _one_int(header["label_index"], "label_index", 0, 2**31 - 1)
    n_features = _one_int(header["max_feature_idx"], "max_feature_idx", 0, 10_000_000) + 1
    for key in ("feature_names", "feature_infos", "monotone_constraints"):
        if key in header and len(header[key].split(" ")) != n_features:
            raise ModelFileError(f"{key}: expected {n_features} entries (max_feature_idx + 1)")
    if "feature_names" not in header:
        raise ModelFileError("no 'feature_names' line")
    if "monotone_constraints" in header:
        if any(v not in (-1, 0, 1) for v in _ints(header["monotone_constraints"], "monotone")):
            raise ModelFileError("monotone_constraints: expected -1, 0 or 1")
    if "objective" in header:
        _check_objective(header["objective"], num_class)
    if "tree_sizes" not in header:
        raise ModelFileError("no 'tree_sizes' line (aares writes it; LightGBM relies on it)")
    sizes = _ints(header["tree_sizes"], "tree_sizes")
    if any(s <= 0 for s in sizes) or len(sizes) % per_iter:
        raise ModelFileError(
            f"tree_sizes: {len(sizes)} positive sizes expected, a multiple of {per_iter}"
        )
    start = offset
    for i, size in enumerate(sizes):
        block = data[start : start + size]
        if len(block) != size or not block.startswith(f"Tree={i}\n".encode()):
            raise ModelFileError(f"tree {i}: tree_sizes do not match the tree blocks")
        _check_tree(block.decode("utf-8"), i, n_features)
        start += size
    if data[start:].lstrip(b"\n")[: len(b"end of trees")] != b"end of trees":
        raise ModelFileError("text after the last tree is not 'end of trees'")
    _check_tail(data[start:].decode("utf-8"))
    return LightGBMText(num_class, per_iter, n_features, len(sizes))


def _check_objective(value: str, num_class: int) -> None:
    tokens = value.split(" ")
    if tokens[0] not in _OBJECTIVES:
        raise ModelFileError(f"unknown objective {_clip(tokens[0])!r}")
    for token in tokens[1:]:
        name, colon, number = token.partition(":")
        if not (colon and re.fullmatch(r"[a-z_]+", name) and _FLOAT.fullmatch(number)):
            raise ModelFileError(f"objective: unexpected parameter {_clip(token)!r}")
        if not math.isfinite(float(number)):
            raise ModelFileError(f"objective: {name} must be finite")
        if name == "num_class" and float(number) != num_class:
            raise ModelFileError(f"objective says num_class {number}, the header {num_class}")
        if name == "sigmoid" and float(number) <= 0:
            raise ModelFileError("objective: sigmoid must be positive")
    if tokens[0].startswith("multiclass") and f"num_class:{num_class}" not in tokens:
        raise ModelFileError(f"objective {tokens[0]} without num_class:{num_class}")


def _check_tail(tail: str) -> None:
    # after the trees LightGBM scans for its parameters; the Python package json-parses the
    # last 'pandas_categorical:' line
    for line in tail.split("\n"):
        if line.startswith("pandas_categorical:"):
            try:
                value = json.loads(line[len("pandas_categorical:") :])
            except ValueError:
                raise ModelFileError("pandas_categorical is not valid JSON") from None
            if value is not None and not (
                isinstance(value, list) and all(isinstance(v, list) for v in value)
            ):
                raise ModelFileError("pandas_categorical: expected null or a list of lists")


def _check_tree(block: str, index: int, n_features: int) -> None:
    where = f"tree {index}"
    body = block.split("\n")[1:]
    fields: dict[str, str] = {}
    for n, line in enumerate(body):
        if not line:
            if any(body[n:]):
                raise ModelFileError(f"{where}: a blank line inside the tree block")
            break
        key, eq, value = line.partition("=")
        if not eq:
            raise ModelFileError(f"{where}: line {_clip(line)!r} is not key=value")
        if key not in _TREE_FIELDS:
            raise ModelFileError(f"{where}: unexpected field {_clip(key)!r}")
        if key in fields:
            raise ModelFileError(f"{where}: field {key!r} given twice")
        fields[key] = value
    if len(fields) > _TREE_MAX_LINES:
        raise ModelFileError(f"{where}: {len(fields)} fields; LightGBM reads {_TREE_MAX_LINES}")
    for key in ("num_leaves", "num_cat", "leaf_value"):
        if key not in fields:
            raise ModelFileError(f"{where}: no {key!r} field")
    n = _one_int(fields["num_leaves"], f"{where}: num_leaves", 1, _MAX_LEAVES)
    n_cat = _one_int(fields["num_cat"], f"{where}: num_cat", 0, max(n - 1, 0))
    if "is_linear" in fields and _one_int(fields["is_linear"], f"{where}: is_linear", 0, 1):
        raise ModelFileError(f"{where}: linear trees are not used by aares models")
    values: dict[str, list] = {}
    for key, text in fields.items():
        length, kind = _TREE_FIELDS[key]
        if kind == "int":
            values[key] = _ints(text, f"{where}: {key}")
        else:  # only the values prediction uses are converted (a third of the load time)
            values[key] = _floats(text, f"{where}: {key}", convert=key in _CONVERTED)
        count = len(values[key]) if kind == "int" or key in _CONVERTED else text.count(" ") + 1
        if length in ("n", "n-1") and not (n == 1 and length == "n-1"):
            want = n if length == "n" else n - 1
            if count != want:
                raise ModelFileError(
                    f"{where}: {key} has {count} values, expected {want} (num_leaves={n})"
                )
    if n == 1:
        return
    for key in ("left_child", "right_child", "split_feature", "threshold"):
        if key not in values:
            raise ModelFileError(f"{where}: no {key!r} field")
    feature = values["split_feature"]
    if any(not 0 <= f < n_features for f in feature):
        bad = next(f for f in feature if not 0 <= f < n_features)
        raise ModelFileError(f"{where}: split_feature {bad} outside [0, {n_features})")
    if any(c < 0 for c in values.get("leaf_count", [])) or any(
        c < 0 for c in values.get("internal_count", [])
    ):
        raise ModelFileError(f"{where}: negative data counts")
    decision = values.get("decision_type", [0] * (n - 1))
    if any(not 0 <= d < 16 or (d >> 2) & 3 == 3 for d in decision):
        raise ModelFileError(f"{where}: decision_type outside LightGBM's flags")
    categorical = [i for i, d in enumerate(decision) if d & 1]
    if categorical or n_cat:
        _check_categorical(values, categorical, n_cat, where)
    _check_structure(values["left_child"], values["right_child"], n, where)


def _check_categorical(values: dict, nodes: Sequence[int], n_cat: int, where: str) -> None:
    if len(nodes) != n_cat:
        raise ModelFileError(f"{where}: {len(nodes)} categorical splits but num_cat={n_cat}")
    bounds = values.get("cat_boundaries")
    if bounds is None or len(bounds) != n_cat + 1 or bounds[0] != 0:
        raise ModelFileError(f"{where}: cat_boundaries must hold num_cat + 1 offsets from 0")
    if any(b > a for a, b in zip(bounds[1:], bounds[:-1], strict=True)):
        raise ModelFileError(f"{where}: cat_boundaries must not decrease")
    cats = values.get("cat_threshold", [])
    if len(cats) != bounds[-1] or any(not 0 <= c < 2**32 for c in cats):
        raise ModelFileError(f"{where}: cat_threshold must hold {bounds[-1]} bit words")
    for node in nodes:
        t = values["threshold"][node]
        if t != int(t) or not 0 <= t < n_cat:
            raise ModelFileError(f"{where}: categorical split {node} names set {t} of {n_cat}")


def _check_structure(left: Sequence[int], right: Sequence[int], n: int, where: str) -> None:
    """A LightGBM tree of ``n`` leaves: internal nodes 0..n-2 (root 0), leaf ``k`` is ``~k``;
    every internal node but the root and every leaf must be the child of exactly one node,
    and every node reachable from the root (so there is no cycle)."""
    seen_internal = [False] * (n - 1)
    seen_leaf = [False] * n
    seen_internal[0] = True
    stack = [0]
    while stack:
        node = stack.pop()
        for child in (left[node], right[node]):
            if child < 0:
                leaf = ~child
                if leaf >= n:
                    raise ModelFileError(f"{where}: node {node} points to leaf {leaf} of {n}")
                if seen_leaf[leaf]:
                    raise ModelFileError(f"{where}: leaf {leaf} has two parents")
                seen_leaf[leaf] = True
            else:
                if not 0 < child < n - 1:
                    raise ModelFileError(
                        f"{where}: node {node} points to node {child}; "
                        f"internal nodes are 1..{n - 2}"
                    )
                if seen_internal[child]:
                    raise ModelFileError(f"{where}: node {child} is reached twice (a cycle)")
                seen_internal[child] = True
                stack.append(child)
    if not all(seen_internal) or not all(seen_leaf):
        raise ModelFileError(f"{where}: some nodes are not reachable from the root")


# ----------------------------------------------------------------------------- loaded objects


def check_loaded(obj, path: str | os.PathLike, *, kind: str | None = None, **expect) -> None:
    """Check a loaded model before anything predicts with it.

    Parameters
    ----------
    obj : object
        What :func:`skops.io.load` returned.
    path : path-like
        The file, for messages.
    kind : {"classifier", "regressor"}, optional
        The kind of model expected.
    expect : optional
        ``classes`` (sequence) and/or ``n_features`` (int) the model must have, e.g.
        from its model card.

    Raises
    ------
    ModelFileError
        when the object is not an estimator of that kind, or holds inconsistent trees.
    """
    from sklearn.base import BaseEstimator, is_classifier, is_regressor

    if not isinstance(obj, BaseEstimator) or not callable(getattr(obj, "predict", None)):
        raise _fail(path, f"holds a {type(obj).__name__}, not a model (expected an estimator)")
    if kind == "classifier" and not (is_classifier(obj) and hasattr(obj, "predict_proba")):
        raise _fail(path, f"holds a {type(obj).__name__}, not a classifier with probabilities")
    if kind == "regressor" and not is_regressor(obj):
        raise _fail(path, f"holds a {type(obj).__name__}, not a regressor")
    if "classes" in expect and expect["classes"] is not None:
        have = [str(c) for c in getattr(obj, "classes_", [])]
        want = [str(c) for c in expect["classes"]]
        if have != want:
            raise _fail(path, f"the model predicts {have}, its card lists {want}")
    want_features = expect.get("n_features")
    if want_features is not None and getattr(obj, "n_features_in_", want_features) != want_features:
        raise _fail(
            path, f"the model takes {obj.n_features_in_} features, its card says {want_features}"
        )
    try:
        for item in _objects(obj):
            _check_object(item)
    except ModelFileError as exc:
        raise _fail(path, str(exc)) from None


def _objects(root) -> Iterator[object]:
    """Every object reachable from ``root`` through attributes, lists, tuples and dicts."""
    seen: set[int] = set()
    stack = [root]
    while stack:
        item = stack.pop()
        if id(item) in seen or isinstance(item, (str, bytes, int, float, bool, type(None))):
            continue
        seen.add(id(item))
        if isinstance(item, np.ndarray):
            if item.dtype == object:
                stack.extend(item.ravel().tolist())
            continue
        yield item
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, (list, tuple, set, frozenset)):
            stack.extend(item)
        elif hasattr(item, "__dict__") and not isinstance(item, type):
            stack.extend(vars(item).values())


def _check_object(item) -> None:
    module = type(item).__module__
    name = type(item).__name__
    if module == "sklearn.tree._tree" and name == "Tree":
        _check_sklearn_tree(item)
    elif module.startswith("sklearn.ensemble._hist_gradient_boosting") and name == "TreePredictor":
        _check_hgb_predictor(item)
    elif module.startswith("sklearn.neighbors") and name in ("KDTree", "BallTree"):
        _check_neighbors_tree(item)
    elif module.startswith("lightgbm") and hasattr(item, "_Booster") and item._Booster is not None:
        _check_lightgbm_wrapper(item)
    elif module.startswith("sklearn.tree") and hasattr(item, "tree_"):
        n = getattr(item, "n_features_in_", None)
        if n is not None and item.tree_.n_features != n:
            raise ModelFileError(
                f"a decision tree takes {item.tree_.n_features} features, its model {n}"
            )


def _check_children(left: np.ndarray, right: np.ndarray, is_leaf: np.ndarray, what: str) -> None:
    """Nodes ``0..n-1`` with the root 0; scikit-learn numbers children after their parent,
    so requiring ``parent < child < n`` for every split and one parent per node rules out
    cycles and out-of-range reads."""
    n = len(left)
    idx = np.arange(n)
    split = ~is_leaf
    for children in (left, right):
        c = children[split]
        if np.any(c <= idx[split]) or np.any(c >= n):
            raise ModelFileError(f"{what}: a child index is out of range or points backwards")
    kids = np.concatenate([left[split], right[split]])
    if len(np.unique(kids)) != len(kids) or len(kids) != n - 1:
        raise ModelFileError(f"{what}: the nodes do not form a tree")


def _check_sklearn_tree(tree) -> None:
    what = "a scikit-learn tree"
    n = tree.node_count
    left, right = np.asarray(tree.children_left), np.asarray(tree.children_right)
    if n < 1 or len(left) != n or len(right) != n:
        raise ModelFileError(f"{what}: {n} nodes but arrays of {len(left)}")
    is_leaf = left == -1
    if np.any((right == -1) != is_leaf):
        raise ModelFileError(f"{what}: a node has one child")
    _check_children(left, right, is_leaf, what)
    feature = np.asarray(tree.feature)[~is_leaf]
    if np.any(feature < 0) or np.any(feature >= tree.n_features):
        raise ModelFileError(f"{what}: a split feature is outside [0, {tree.n_features})")
    if not np.all(np.isfinite(np.asarray(tree.threshold)[~is_leaf])):
        raise ModelFileError(f"{what}: a split threshold is not finite")
    value = np.asarray(tree.value)
    if value.shape[0] != n or not np.all(np.isfinite(value)):
        raise ModelFileError(f"{what}: leaf values are missing or not finite")


def _check_hgb_predictor(predictor) -> None:
    what = "a histogram gradient boosting tree"
    nodes = predictor.nodes
    is_leaf = nodes["is_leaf"].astype(bool)
    _check_children(nodes["left"].astype(np.int64), nodes["right"].astype(np.int64), is_leaf, what)
    if not np.all(np.isfinite(nodes["value"])):
        raise ModelFileError(f"{what}: a leaf value is not finite")
    cat = nodes["is_categorical"].astype(bool) & ~is_leaf
    n_bitsets = len(getattr(predictor, "raw_left_cat_bitsets", []))
    if np.any(nodes["bitset_idx"][cat] >= n_bitsets):
        raise ModelFileError(f"{what}: a categorical split names a missing category set")


def _check_neighbors_tree(tree) -> None:
    what = f"a {type(tree).__name__}"
    data, idx, node_data, _ = tree.get_arrays()
    n = len(data)
    if len(idx) != n or not np.array_equal(np.sort(idx), np.arange(n)):
        raise ModelFileError(f"{what}: the index array is not a permutation of the points")
    start, end = node_data["idx_start"], node_data["idx_end"]
    if np.any(start < 0) or np.any(end > n) or np.any(start > end):
        raise ModelFileError(f"{what}: a node's point range is outside the data")


def _check_lightgbm_wrapper(model) -> None:
    booster = model._Booster
    n_features = getattr(model, "_n_features", None)
    if n_features is not None and booster.num_feature() != n_features:
        raise ModelFileError(
            f"the LightGBM model takes {n_features} features, its booster {booster.num_feature()}"
        )
    n_classes = getattr(model, "_n_classes", None)
    if n_classes is not None and getattr(model, "_classes", None) is not None:  # a classifier
        if len(model._classes) != n_classes:
            raise ModelFileError(f"LightGBM lists {len(model._classes)} classes, not {n_classes}")
        want = n_classes if n_classes > 2 else 1
        if booster.num_model_per_iteration() != want:
            raise ModelFileError(
                f"the LightGBM booster has {booster.num_model_per_iteration()} trees per "
                f"round for {n_classes} classes (expected {want})"
            )
