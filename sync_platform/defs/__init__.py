"""Dagster definitions: the only package (with the CLI that drives it) that imports dagster."""
