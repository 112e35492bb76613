"""The real-time replay of November, one domain.

- :mod:`~ecom_assets.replay.hour`: an hour of the replay, the one Dagster step that runs both parts below;
- ``behaviour/``: the hour's behaviour metrics, product trends and the day's roll-up (plain Spark
  functions in ``metrics``, their jobs in ``spark_jobs``, points, assets);
- ``models/``: the hour's model updates (customers and pairs in ledgers, segments, fold-in and blend,
  online evaluation, points, assets);
- ``orchestration/``: partitions, the replay clock (time shift), run tags and ordering, the step's
  parts run side by side, the sensor.
"""
