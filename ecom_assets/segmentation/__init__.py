"""Segmentation stage: RFM, K-means segments, profiles, assignment of new users."""
