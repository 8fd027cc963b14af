"""Batch and online scoring of cartcast models with ONNX Runtime (filled in by the scoring work)."""
