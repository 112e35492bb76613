"""The hybrid's one definition: every form uses it, and the configuration takes its defaults from it."""

from __future__ import annotations

import numpy as np

from ecom_assets.recommendation.hybrid_definition import (
    MIN_SEGMENT_USERS,
    WEIGHT_STEP,
    CandidateSizes,
    HybridSettings,
    Weights,
    hybrid_score,
    weight_grid,
)


def test_the_formula_is_the_same_expression_for_numpy_and_plain_numbers() -> None:
    als, content, popularity = np.array([0.2, 1.0]), np.array([0.5, 0.0]), np.array([0.1, 0.3])
    w = Weights(0.5, 0.25, 0.25)
    arrays = hybrid_score(np.full(2, w.als), np.full(2, w.content), np.full(2, w.popularity), als, content, popularity)
    scalars = [hybrid_score(w.als, w.content, w.popularity, a, c, p) for a, c, p in zip(als, content, popularity)]
    assert arrays.tolist() == scalars == [0.5 * 0.2 + 0.25 * 0.5 + 0.25 * 0.1, 0.5 * 1.0 + 0.25 * 0.0 + 0.25 * 0.3]


def test_hybrid_config_takes_its_defaults_from_the_definition() -> None:
    from ecom_assets.recommendation.assets import HybridConfig

    assert HybridConfig().settings() == HybridSettings() == HybridSettings(CandidateSizes(), WEIGHT_STEP,
                                                                           MIN_SEGMENT_USERS)
    assert len(weight_grid(HybridConfig().weight_step)) == 15


def test_recorded_settings_come_back_as_they_were_written() -> None:
    settings = HybridSettings(CandidateSizes(als=40, recent=5, popular=20), 0.5, 10)
    assert HybridSettings.of_row(settings.as_row()) == settings


def test_no_other_module_spells_out_the_blend() -> None:
    """The weighted sum is written once, in hybrid_definition; the other forms call it."""
    from pathlib import Path

    package = Path(__file__).resolve().parents[1] / "ecom_assets"
    spelled = [str(p.relative_to(package)) for p in package.rglob("*.py")
               if p.name != "hybrid_definition.py" and "w_als * " in p.read_text().replace("weights[:, 0] * ", "w_als * ")]
    assert spelled == []
