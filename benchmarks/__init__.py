"""Benchmarks: each ``bench_*.py`` prints figures measured in one run.

Run them all with ``sudo make bench`` (``python -m benchmarks``), or one with
``python -m benchmarks.bench_testbed``. Figures are printed with ratios to a
baseline measured in the same run, since these machines are shared and noisy.
"""
