"""Benchmarks: annotation loaders, metrics and report formatting."""
