"""Benchmarks: real server processes, figures reported as ratios to a baseline from the same run."""
