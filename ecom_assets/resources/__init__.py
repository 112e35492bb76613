"""Resources shared by every stage: the Spark session and the lake."""

from ecom_assets.resources.lake_resource import LakeResource
from ecom_assets.resources.spark import SparkResource

__all__ = ["LakeResource", "SparkResource"]
