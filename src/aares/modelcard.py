"""Model files that say what they are: the aares model card, and input drift.

An aares model file is a skops archive (a zip of JSON and ``.npy`` files, never a pickle)
with two more members that aares writes beside skops' own:

- :data:`CARD_MEMBER`, the **model card** (JSON): what the model is (kind, estimator,
  settings), the aares and library versions, the training file (name, rows, SHA-256), the
  target's classes, the input columns (required, and optional ones with the value used when
  a file lacks them), the cross-validated scores, the conformal calibration, training time,
  and the training distribution of each input feature (for the drift check);
- :data:`ARRAYS_MEMBER` (NPZ, read with ``allow_pickle=False``): arrays too large for the
  card, such as the out-of-fold probabilities that calibrate prediction sets.

:func:`read_card` reads only the card, with bounded sizes and no skops or pickle code
involved, so ``aares genre info`` is instant and a file that is not an aares model (a
pickle, a foreign skops file, anything else) is refused before anything in it is loaded.

Drift: :func:`feature_profile` stores, per feature, the training deciles and the share of
training songs in each bin; :func:`drift_table` compares a new file with them by the
population stability index, ``PSI = sum_b (a_b - e_b) ln(a_b / e_b)`` over those bins
(``e`` the training share, ``a`` the new file's). The usual reading: below 0.1 little
change, 0.1-0.25 a moderate shift, above 0.25 a strong one.

Example
-------
>>> import numpy as np, pandas as pd
>>> train = pd.DataFrame({"energy": np.linspace(0, 1, 1000)})
>>> prof = feature_profile(train, ["energy"])
>>> drift_table(prof, pd.DataFrame({"energy": np.linspace(0, 1, 500)}))["psi"].round(3).tolist()
[0.0]
>>> drift_table(prof, pd.DataFrame({"energy": np.linspace(0.6, 1, 500)}))["psi"].round(2).tolist()
[3.21]
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import os
import zipfile
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "CARD_MEMBER",
    "ARRAYS_MEMBER",
    "PSI_STRONG",
    "ModelFileError",
    "file_sha256",
    "base_card",
    "card_members",
    "read_card",
    "read_arrays",
    "feature_profile",
    "drift_table",
    "card_summary",
]

FORMAT = "aares-model"
#: Bumped when the card or the arrays change incompatibly.
FORMAT_VERSION = 1
CARD_MEMBER = "aares-card.json"
ARRAYS_MEMBER = "aares-arrays.npz"
#: PSI above this is reported as a strong shift.
PSI_STRONG = 0.25
#: Drift is not judged on fewer rows than this (PSI of 10 bins is noisy below ~100 rows).
DRIFT_MIN_ROWS = 100
#: Bounds on what is read from a model file before trusting it (the card is a few 10 kB).
MAX_CARD_BYTES = 8 << 20
MAX_ARRAYS_BYTES = 512 << 20
_LIBRARIES = ("numpy", "pandas", "scikit-learn", "lightgbm", "skops")


class ModelFileError(ValueError):
    """A file is not an aares model of the expected kind (or is damaged)."""


def file_sha256(path: str | os.PathLike) -> str:
    """SHA-256 of a file's bytes, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _versions() -> dict[str, str]:
    out = {}
    for lib in _LIBRARIES:
        try:
            out[lib] = metadata.version(lib)
        except metadata.PackageNotFoundError:
            continue
    return out


def base_card(kind: str, source: str | os.PathLike | None, rows: int) -> dict:
    """The fields every card has: format, kind, versions, when, and the training file.

    ``source`` is the training file (its name and SHA-256 are recorded) or ``None`` for a
    frame given in Python.
    """
    from aares import __version__

    training: dict = {"file": None, "rows": int(rows), "sha256": None}
    if source is not None:
        training.update(file=Path(source).name, sha256=file_sha256(source))
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "kind": kind,
        "aares_version": __version__,
        "libraries": _versions(),
        "created": dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat(),
        "training": training,
    }


def card_members(card: dict, arrays: dict[str, np.ndarray] | None = None) -> dict[str, bytes]:
    """The extra zip members of a model file: the card as JSON, the arrays as NPZ."""
    members = {CARD_MEMBER: json.dumps(card, indent=2, default=_json_default).encode()}
    if arrays:
        buf = io.BytesIO()
        np.savez(buf, **{k: np.asarray(v) for k, v in arrays.items()})
        members[ARRAYS_MEMBER] = buf.getvalue()
    return members


def _json_default(obj):
    if hasattr(obj, "tolist"):
        return obj.tolist()
    raise TypeError(f"cannot write {type(obj).__name__} in a model card")


def _member(path: Path, name: str, limit: int) -> bytes | None:
    """One member of the zip at ``path`` (``None`` if absent), refusing oversized ones."""
    try:
        with zipfile.ZipFile(path) as zf:
            try:
                info = zf.getinfo(name)
            except KeyError:
                return None
            if info.file_size > limit:
                raise ModelFileError(
                    f"{path}: member {name} is {info.file_size:,} bytes (at most {limit:,} "
                    "expected); refusing a damaged or foreign model file"
                )
            with zf.open(info) as fh:
                data = fh.read(limit + 1)
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise ModelFileError(f"{path}: damaged model file ({exc})") from None
    if len(data) > limit:
        raise ModelFileError(f"{path}: member {name} is larger than its header says")
    return data


def read_card(path: str | os.PathLike, kind: str | None = None) -> dict:
    """The model card of an aares model file, checked, without loading the model.

    Parameters
    ----------
    path : path-like
        The model file.
    kind : str, optional
        ``"genre"`` or ``"popularity"``: refuse a model of another kind.

    Raises
    ------
    ModelFileError
        when the file is missing, is not a zip archive (a pickle, for instance: it is never
        unpickled), has no aares card (a foreign skops file), or is of another kind or a
        newer format.
    """
    path = Path(path)
    if not path.is_file():
        how = f"`aares {kind} train`" if kind else "`aares genre train` or `aares popularity train`"
        raise ModelFileError(f"{path}: model file not found (train one with {how} or `make run`)")
    if not zipfile.is_zipfile(path):
        with open(path, "rb") as fh:
            head = fh.read(2)
        what = "a pickle file" if head[:1] == b"\x80" else "not a zip archive"
        raise ModelFileError(
            f"{path}: not an aares model file ({what}); aares models are skops archives with "
            "a model card, and aares never unpickles a file"
        )
    data = _member(path, CARD_MEMBER, MAX_CARD_BYTES)
    if data is None:
        raise ModelFileError(
            f"{path}: a zip/skops archive without an aares model card ({CARD_MEMBER}); "
            "refusing to load a model aares did not train (train one with `aares genre train` "
            "or `aares popularity train`)"
        )
    try:
        card = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelFileError(f"{path}: the model card is not valid JSON ({exc})") from None
    if not isinstance(card, dict) or card.get("format") != FORMAT:
        raise ModelFileError(f"{path}: the model card does not say format {FORMAT!r}")
    version = card.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise ModelFileError(
            f"{path}: model file format {version!r} is newer than this aares reads "
            f"({FORMAT_VERSION}); upgrade aares"
        )
    if kind is not None and card.get("kind") != kind:
        raise ModelFileError(
            f"{path}: a {card.get('kind')} model, expected a {kind} model "
            f"(train one with `aares {kind} train`)"
        )
    return card


def read_arrays(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """The arrays stored beside the card (empty when there are none); never unpickles."""
    path = Path(path)
    data = _member(path, ARRAYS_MEMBER, MAX_ARRAYS_BYTES)
    if data is None:
        return {}
    from aares.modelcheck import check_zip  # the npz is a zip inside the zip: bound it too

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as inner:
            check_zip(inner, len(data), f"{path}: {ARRAYS_MEMBER}")
    except zipfile.BadZipFile as exc:
        raise ModelFileError(f"{path}: damaged arrays member {ARRAYS_MEMBER} ({exc})") from None
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            return {k: npz[k] for k in npz.files}
    except (ValueError, OSError, zipfile.BadZipFile) as exc:
        raise ModelFileError(f"{path}: damaged arrays member {ARRAYS_MEMBER} ({exc})") from None


# ----------------------------------------------------------------------------- drift


def _bins(edges: np.ndarray, values: np.ndarray) -> np.ndarray:
    return np.searchsorted(edges, values, side="right")


def feature_profile(frame: pd.DataFrame, columns: Sequence[str], bins: int = 10) -> dict:
    """Per feature: the training quantile edges and the share of songs in each bin.

    Discrete features (``mode``, ``key``) get fewer, uneven bins: repeated quantiles merge.
    """
    out = {}
    for col in columns:
        x = pd.to_numeric(frame[col], errors="coerce").to_numpy(float)
        x = x[np.isfinite(x)]
        if len(x) == 0:
            continue
        edges = np.unique(np.quantile(x, np.linspace(0, 1, bins + 1)[1:-1]))
        shares = np.bincount(_bins(edges, x), minlength=len(edges) + 1) / len(x)
        out[col] = {
            "edges": [float(e) for e in edges],
            "shares": [round(float(s), 6) for s in shares],
            "median": float(np.median(x)),
        }
    return out


def psi(expected: np.ndarray, actual: np.ndarray, n: int) -> float:
    """Population stability index of two bin-share vectors (``n`` new rows).

    Shares are floored at ``0.5 / n`` so an empty bin adds a large but finite term.
    """
    floor = 0.5 / max(n, 1)
    e = np.maximum(np.asarray(expected, float), floor)
    a = np.maximum(np.asarray(actual, float), floor)
    return float(np.sum((a - e) * np.log(a / e)))


def drift_table(profile: dict, frame: pd.DataFrame) -> pd.DataFrame:
    """PSI of each profiled feature of ``frame`` against training, largest first.

    Columns: ``feature``, ``psi``, ``train_median``, ``median`` (of ``frame``).
    """
    rows = []
    for col, prof in profile.items():
        if col not in frame.columns:
            continue
        x = pd.to_numeric(frame[col], errors="coerce").to_numpy(float)
        x = x[np.isfinite(x)]
        if len(x) == 0:
            continue
        edges = np.asarray(prof["edges"], float)
        actual = np.bincount(_bins(edges, x), minlength=len(edges) + 1) / len(x)
        rows.append(
            {
                "feature": col,
                "psi": psi(prof["shares"], actual, len(x)),
                "train_median": prof["median"],
                "median": float(np.median(x)),
            }
        )
    table = pd.DataFrame(rows, columns=["feature", "psi", "train_median", "median"])
    return table.sort_values("psi", ascending=False, ignore_index=True)


# ----------------------------------------------------------------------------- reading cards


def card_summary(card: dict) -> list[tuple[str, str]]:
    """The card as (field, value) lines for people (``aares genre info``)."""
    tr = card.get("training", {})
    model = card.get("model", {})
    timing = card.get("timing", {})
    inputs = card.get("inputs", {})
    lines = [
        ("kind", f"{card.get('kind')} model (aares model format {card.get('format_version')})"),
        ("model", ", ".join(f"{k} {v}" for k, v in model.items())),
        ("trained", f"{card.get('created')} with aares {card.get('aares_version')}, "
                    + ", ".join(f"{k} {v}" for k, v in card.get("libraries", {}).items())),
        ("time", ", ".join(f"{k.replace('_seconds', '')} {v:.1f} s" for k, v in timing.items())),
        ("training file", f"{tr.get('file') or '(a DataFrame)'}, {tr.get('rows', 0):,} rows"),
        ("sha256", str(tr.get("sha256"))),
    ]  # fmt: skip
    if "classes" in card:
        lines.append((f"{card.get('target')} ({len(card['classes'])})", ", ".join(card["classes"])))
    if "target" in card and "classes" not in card:
        lines.append(("target", str(card["target"])))
    if inputs:
        lines.append(("required columns", ", ".join(n for n, _ in inputs["required"])))
        lines.append(("optional columns", "; ".join(
            f"{n} (else {o['fill']!r})" for n, o in inputs["optional"].items())))  # fmt: skip
    cv = card.get("cv")
    if cv:
        scores = ", ".join(
            f"{k} {v}" for k, v in cv.items() if k not in ("folds", "seed", "cached")
        )
        lines.append((f"{cv['folds']}-fold CV", scores))
    else:
        lines.append(("CV", "none (trained with --folds 0)"))
    cal = card.get("calibration")
    if cal:
        sizes = "; ".join(f"eps {e}: {v['mean_set_size']} genres"
                          for e, v in cal.get("by_eps", {}).items())  # fmt: skip
        lines.append(("sets", f"{cal['method']} ({cal['songs']:,} songs); mean size {sizes}"))
    drift = card.get("drift")
    if drift:
        lines.append(("drift check", f"{drift['measure']}, {len(drift['profile'])} features, "
                                     f"warns above {PSI_STRONG}"))  # fmt: skip
    return lines
