"""The real-time replay of November: hourly partitions, per-hour metrics, the sensor and publishing."""
