"""Benchmarks (``make bench``): figures printed, compared with a baseline in the same run."""
