"""Model updates of a replayed hour: customers and pairs in ledgers, segments, recommendations, online metrics."""
