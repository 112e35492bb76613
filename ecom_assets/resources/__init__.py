"""Resources shared by every stage: the Spark session, the lake, the training window and the InfluxDB sink."""

from ecom_assets.resources.influx import InfluxResource
from ecom_assets.resources.lake_resource import LakeResource
from ecom_assets.resources.spark import SparkResource
from ecom_assets.resources.training import TrainingResource

__all__ = ["InfluxResource", "LakeResource", "SparkResource", "TrainingResource"]
