"""Sensors: fixed definitions that consult each pipeline's lanes on every tick."""
