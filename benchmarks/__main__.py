"""Run benchmarks: `python -m benchmarks [NAME ...] --data DIR` (all of them by default).

Each benchmark is a module ``benchmarks/NAME.py`` with ``main(data_dir: Path) -> None`` that
rewrites its own section of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import importlib
import os
from pathlib import Path

# Benchmarks in the order `make bench` runs them.
ALL = [
    # capabilities add their benchmark module name here
    "startup",
    "genre",
    "conformal",
    "fingerprint",
    "fingerprint-cluster",
    "fingerprint-speed",
    "fingerprint-indexing",
    "popularity",
    "recommend",
    "catalogue",
    "robustness",
    "service",
    "report",  # keep last: it builds the report from every capability
]
# Run only when named (hours of CPU, tens of GB of disk)
EXTRA = [
    "fingerprint-scale",
    "fingerprint-noise",
    "fingerprint-filters",
    "fingerprint-stops",
    "fingerprint-heap",
    "fingerprint-search",
    "fingerprint-serve",
]


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("names", nargs="*", help=f"benchmarks to run (default: all of {ALL})")
    parser.add_argument("--data", type=Path, default=Path("data"), help="data folder")
    parser.add_argument(
        "--olaf", type=Path, help="olaf_core binary for fingerprint-indexing (else skipped)"
    )
    args = parser.parse_args()
    if args.olaf:
        os.environ["AARES_OLAF"] = str(args.olaf)
    for name in args.names or ALL:
        if name not in ALL + EXTRA:
            parser.error(f"unknown benchmark {name!r}; choose from {ALL + EXTRA}")
        print(f"== benchmark {name}", flush=True)
        importlib.import_module(f"benchmarks.{name.replace('-', '_')}").main(args.data)


if __name__ == "__main__":
    main()
