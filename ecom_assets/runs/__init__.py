"""Launching Dagster runs from a warm process."""
