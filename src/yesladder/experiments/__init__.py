"""Experiments on whole ladders: which sequence of yeses converts best (docs/experiments.md)."""
