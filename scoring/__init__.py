"""Serving: batch and online scoring with ONNX Runtime, prediction tables, explanations, model
inputs, sessions and providers, and the checks a version passes before it is promoted."""
