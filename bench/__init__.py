"""Benchmarks: each runs the real services against real databases on this machine, prints its
figures in words, and ends with one line holding a JSON object of them. Speed is measured here,
never in timed tests."""
