"""Helpers the tests (and the benchmarks) import: waiting for conditions, shared harnesses."""
