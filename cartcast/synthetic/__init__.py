"""Synthetic raw orders and events of any size, for benchmarks and scale tests (never the demo)."""
