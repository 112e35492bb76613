"""Ingest stage: synthetic data generator, CSV parsing and validation, the ``raw_events`` asset."""
