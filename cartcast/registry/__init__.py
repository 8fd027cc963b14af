"""The model registry: versions in `ml.model_registry`, their files and the metadata inside them.
It knows nothing of training or serving; promotion checks are passed in by the caller."""
