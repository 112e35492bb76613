"""The blend's fast numpy form, fenced from the analytics: blocks of users blended with numpy
(``user_blend``: how ``hybrid_recs`` serves every training user), the replay's one pass over each
active user's pairs (``pair_blend``) and content neighbours as arrays (``content_neighbours``). Each is
tested equal to the Spark form in :mod:`~ecom_assets.recommendation.hybrid` and names the benchmark
that justifies it; the shared primitives they use are in :mod:`ecom_assets.speedups`.
"""
