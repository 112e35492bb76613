"""Recommendations: ALS, content similarity, the hybrid blend and their evaluation."""
