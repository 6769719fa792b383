"""Benchmarks: commands that measure and print figures (and save them), never timed tests."""
