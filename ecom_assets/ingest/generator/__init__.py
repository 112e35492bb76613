"""Synthetic REES46 month files with realistic marginals and latent structure."""

from ecom_assets.ingest.generator.dataset import GenerationReport, generate_dataset, rows_for_scale

__all__ = ["GenerationReport", "generate_dataset", "rows_for_scale"]
