"""When and in which order the replay's hours run: partitions, clock, run tags and ordering, the sensor."""
