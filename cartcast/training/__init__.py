"""Training: data and split, preprocessing, torch models and baselines, metrics, ONNX export,
and the evidence stored with each version (card, drift reference, importance, scores)."""
