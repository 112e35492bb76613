"""Behaviour of a replayed hour: counts, per-minute series, product trends, the day's roll-up, their points."""
