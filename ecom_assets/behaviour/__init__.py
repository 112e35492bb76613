"""Behaviour stage: sessions, user indicators, funnel, popularity, navigation, affinities, time patterns."""
