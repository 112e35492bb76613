"""Place users in the existing segments with the saved pipeline: training users and new ones alike."""

from __future__ import annotations

from pyspark.ml import PipelineModel
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from ecom_assets.segmentation.kmeans import PREDICTION


def load_segmentation(spark: SparkSession, model_path: str, profiles_path: str) -> tuple[PipelineModel, dict[int, str]]:
    """The saved pipeline and the cluster -> segment name table (both written by the batch graph)."""
    model = PipelineModel.load(model_path)
    rows = spark.read.parquet(profiles_path).select(PREDICTION, "segment").collect()
    names = {int(r[PREDICTION]): r["segment"] for r in rows}
    return model, names


def segment_name(names: dict[int, str], cluster: Column) -> Column:
    """The segment name of ``cluster`` from the cluster -> name table (null for an unknown cluster)."""
    lookup = F.create_map(*[F.lit(x) for pair in names.items() for x in pair])
    return F.try_element_at(lookup, cluster)


def assign_segments(model: PipelineModel, features: DataFrame, names: dict[int, str]) -> DataFrame:
    """``user_id``, ``cluster`` (nearest centre) and ``segment`` for each row of RFM ``features``."""
    return model.transform(features).select(
        "user_id", F.col(PREDICTION), segment_name(names, F.col(PREDICTION)).alias("segment")
    )
