"""Navigation sequences inside sessions: transition probabilities and frequent paths, converting or not."""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.window import Window

PATH_SEPARATOR = " > "
NGRAM_LENGTHS = (2, 3)
EVENT_PREFIX_LENGTH = 3
TOP_PATHS = 200


def _transitions(sessions: DataFrame, path: str, kind: str) -> DataFrame:
    """Counts and probabilities of consecutive steps ``from_state -> to_state`` in ``path``."""
    pairs = sessions.select(
        F.explode(F.arrays_zip(F.slice(path, 1, F.size(path) - 1), F.slice(path, 2, F.size(path)))).alias("step")
    )
    counts = pairs.groupBy(F.col("step")["0"].alias("from_state"), F.col("step")["1"].alias("to_state")).count()
    total_from = F.sum("count").over(Window.partitionBy("from_state"))
    return counts.select(
        F.lit(kind).alias("kind"),
        "from_state",
        "to_state",
        F.col("count").alias("transitions"),
        (F.col("count") / total_from).alias("probability"),
    )


def navigation_transitions(sessions: DataFrame) -> DataFrame:
    """Transitions between top-level categories and between event types within sessions."""
    usable = sessions.where(F.size("event_path") > 1)
    return _transitions(usable, "category_path", "category").unionByName(
        _transitions(usable, "event_path", "event_type")
    )


def _ngrams(path: Column, n: int) -> Column:
    """The distinct ``n``-step sub-paths of ``path`` as strings (empty when the path is shorter)."""
    starts = F.sequence(F.lit(1), F.greatest(F.size(path) - n + 1, F.lit(1)))
    grams = F.transform(starts, lambda i: F.array_join(F.slice(path, i, n), PATH_SEPARATOR))
    return F.when(F.size(path) >= n, F.array_distinct(grams)).otherwise(F.array().cast("array<string>"))


def _path_stats(items: DataFrame, kind: str, top: int, totals: dict[str, int]) -> DataFrame:
    """Per path: sessions, conversion, and its share among converting vs other sessions (lift)."""
    grouped = items.groupBy("path").agg(
        F.count(F.lit(1)).alias("sessions"), F.count_if("converted").alias("converted_sessions")
    )
    converting, other = max(totals["converting"], 1), max(totals["other"], 1)
    share_conv = F.col("converted_sessions") / F.lit(converting)
    share_other = (F.col("sessions") - F.col("converted_sessions")) / F.lit(other)
    best = Window.orderBy(F.desc("sessions"), F.asc("path"))
    return (
        grouped.select(
            F.lit(kind).alias("kind"),
            "path",
            "sessions",
            "converted_sessions",
            (F.col("converted_sessions") / F.col("sessions")).alias("conversion_rate"),
            share_conv.alias("share_of_converting_sessions"),
            share_other.alias("share_of_other_sessions"),
            F.when(share_other > 0, share_conv / share_other).alias("lift_converting_vs_other"),
        )
        .withColumn("rank", F.row_number().over(best))
        .where(F.col("rank") <= top)
    )


def navigation_paths(sessions: DataFrame, top: int = TOP_PATHS) -> DataFrame:
    """Most frequent category n-grams and opening event sequences, and how converting sessions differ."""
    counts = sessions.agg(F.count_if("converted").alias("converting"), F.count_if(~F.col("converted")).alias("other"))
    row = counts.collect()[0]
    totals = {"converting": int(row["converting"]), "other": int(row["other"])}
    tables = []
    for n in NGRAM_LENGTHS:
        grams = sessions.select("converted", F.explode(_ngrams(F.col("category_path"), n)).alias("path"))
        tables.append(_path_stats(grams, f"category_{n}_steps", top, totals))
    openings = sessions.select(
        "converted", F.array_join(F.slice("event_path", 1, EVENT_PREFIX_LENGTH), PATH_SEPARATOR).alias("path")
    )
    tables.append(_path_stats(openings, f"first_{EVENT_PREFIX_LENGTH}_events", top, totals))
    result = tables[0]
    for table in tables[1:]:
        result = result.unionByName(table)
    return result
