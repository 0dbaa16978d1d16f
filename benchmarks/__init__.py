"""Load and scale benchmarks for Doable: `uv run --group bench python -m benchmarks run`."""
