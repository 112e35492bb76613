"""What the recommendation assets keep in the lake, and how later steps read it back.

``als_model`` writes the model, its id indexers and parameters under ``models/`` (and one model per
validation fold, which ``hybrid_recs`` tunes the blend on); ``hybrid_recs`` writes its per-segment
weights and the settings it ran with under ``processed/``. The offline evaluation and the replay
read them here, so that they blend exactly as ``hybrid_recs`` did.
"""

from __future__ import annotations

import datetime as dt

from pyspark.ml.recommendation import ALSModel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from ecom_assets.ingest.tables import read_raw_events
from ecom_assets.lake import Lake
from ecom_assets.recommendation.als import Indexers
from ecom_assets.recommendation.hybrid import HybridInputs, build_inputs, product_categories
from ecom_assets.recommendation.hybrid_definition import SETTINGS_SCHEMA, UNKNOWN_SEGMENT, HybridSettings, Weights
from ecom_assets.recommendation.interactions import Window, events_in, interaction_strengths
from ecom_assets.resources import LakeResource

ALS_MODEL = "als"
ALS_INDEXERS = "als_indexers"
ALS_PARAMS = "als_params"
HYBRID_WEIGHTS = "hybrid_weights"
HYBRID_SETTINGS = "hybrid_settings"


def fold_model_path(lake: Lake, fold: int) -> str:
    """Where the chosen ALS parameters' model of one validation fold is kept (for tuning the blend)."""
    return lake.model(f"als_folds/fold_{fold}")


def load_fold_model(lake: Lake, fold: int, folds: int) -> tuple[ALSModel, Indexers]:
    """The ALS model and indexers of validation fold ``fold``, with what to do when they are missing."""
    path = fold_model_path(lake, fold)
    try:
        return ALSModel.load(f"{path}/als"), Indexers.load(f"{path}/indexers")
    except Exception as exc:
        raise FileNotFoundError(f"no ALS model for validation fold {fold} under {path}: materialize als_model "
                                f"with folds >= {folds} first ({exc.__class__.__name__})") from exc


def weights_table(session: SparkSession, choices: dict) -> DataFrame:
    """``processed/hybrid_weights``: per segment (``Unknown`` = the overall choice) the weights, their
    validation NDCG@10 per fold and the number of validation users."""
    rows = [(segment, c.weights.als, c.weights.content, c.weights.popularity, c.fold_ndcg, c.users)
            for segment, c in sorted(choices.items())]
    return session.createDataFrame(rows, "segment string, w_als double, w_content double, w_popularity double, "
                                         "fold_ndcg_at_10 array<double>, validation_users long")


def read_hybrid_weights(session: SparkSession, lake: LakeResource) -> tuple[dict[str, Weights], Weights]:
    """The per-segment weights written by ``hybrid_recs`` and the fallback (the ``Unknown`` row)."""
    rows = lake.read_processed(session, HYBRID_WEIGHTS).collect()
    weights = {r["segment"]: Weights(r["w_als"], r["w_content"], r["w_popularity"]) for r in rows}
    return weights, weights[UNKNOWN_SEGMENT]


def settings_table(session: SparkSession, settings: HybridSettings) -> DataFrame:
    """``processed/hybrid_settings``: the one row of what ``hybrid_recs`` ran with."""
    return session.createDataFrame([tuple(settings.as_row().values())], SETTINGS_SCHEMA)


def read_hybrid_settings(session: SparkSession, lake: LakeResource) -> HybridSettings:
    """The candidate sizes and weight step ``hybrid_recs`` ran with; a clear error for a lake whose
    ``hybrid_recs`` predates this record."""
    try:
        rows = lake.read_processed(session, HYBRID_SETTINGS).collect()
    except Exception as exc:  # Spark raises AnalysisException (or its Connect twin) for a missing path
        raise FileNotFoundError(
            f"no {lake.lake.processed(HYBRID_SETTINGS)}: hybrid_recs was materialized by an older version that "
            "did not record its settings; materialize hybrid_recs again") from exc
    if len(rows) != 1:
        raise ValueError(f"{lake.lake.processed(HYBRID_SETTINGS)} must hold one row, found {len(rows)}")
    return HybridSettings.of_row(rows[0].asDict())


def training_interactions(session: SparkSession, lake: LakeResource, window: Window) -> DataFrame:
    """The interactions of the whole training window (cached)."""
    return interaction_strengths(events_in(read_raw_events(session, lake.lake), window)).cache()


def trained_inputs(session: SparkSession, lake: LakeResource, as_of: dt.date, settings: HybridSettings,
                   interactions: DataFrame, users: DataFrame | None = None) -> HybridInputs:
    """The blend's inputs as trained on the whole window: the saved ALS model, the content similarity, the
    products' categories and the segments (content scores of ``users`` only, when given)."""
    model = ALSModel.load(lake.lake.model(ALS_MODEL))
    indexers = Indexers.load(lake.lake.model(ALS_INDEXERS))
    similarity = lake.read_processed(session, "content_similarity")
    segments = lake.read_processed(session, "user_segments").select("user_id", "segment")
    return build_inputs(interactions, similarity, segments, read_categories(session, lake), model, indexers, as_of,
                        settings.sizes, users=users)


def read_categories(session: SparkSession, lake: LakeResource) -> DataFrame:
    """(product_id, category_id) of the listed products (``product_attributes``, written by ``content_similarity``)."""
    return product_categories(lake.read_processed(session, "product_attributes"))


def overall_fold_ndcg(session: SparkSession, lake: LakeResource) -> list[float]:
    """The validation NDCG@10 per fold of the overall weights (``hybrid_weights``' ``Unknown`` row)."""
    row = lake.read_processed(session, HYBRID_WEIGHTS).where(F.col("segment") == UNKNOWN_SEGMENT).first()
    return list(row["fold_ndcg_at_10"]) if row else []
