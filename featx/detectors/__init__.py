"""Pipelines that compose models into a featx Dataset (DESIGN §4)."""
