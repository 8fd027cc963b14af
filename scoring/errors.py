"""Errors a user can act on: each names what is wrong and what to do."""

from __future__ import annotations


class TrainingError(ValueError):
    """The data, the split or the model registry cannot give a sound model."""


class RegistryError(ValueError):
    """A model or version is missing, or does not match what was asked for."""


class ScoringError(ValueError):
    """A model cannot score a feature table: missing or mistyped inputs, no champion, ..."""
