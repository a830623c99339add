"""Benchmark suite of tokensim: run ``python benchmarks/run.py [--quick] [--out FILE.json]``."""
