"""Pipelines that compose models: each detector turns frames into one featx Dataset."""
