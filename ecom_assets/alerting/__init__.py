"""Telling an operator when something goes wrong: Dagster's side (failed runs and their failed checks)."""
