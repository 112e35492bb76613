"""Publishing results as time series: measurements, line protocol, InfluxDB (1.x, 2.x, 3.x) and file sinks."""
