"""Benchmarks: `python -m benchmarks [NAME ...] --data DIR` rewrites sections of BENCHMARKS.md."""
