"""The private Dagster APIs of the warm run launcher: still there, still shaped as the launcher uses them."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "ecom_assets"


def test_the_private_api_the_warm_launcher_uses_is_unchanged() -> None:
    try:
        private = importlib.import_module("ecom_assets.runs.dagster_private")
    except ImportError as error:  # a private module or name is gone
        pytest.fail(f"{error}. Dagster's private API used by the warm run launcher changed; until "
                    "ecom_assets/runs/ is updated, remove the run_launcher section from DAGSTER_HOME/dagster.yaml")
    changes = private.api_changes()
    assert not changes, f"{'; '.join(changes)}. {private.FALLBACK}"


def test_no_other_module_imports_a_private_dagster_api() -> None:
    """One home for them: a new private use goes into runs/dagster_private.py, behind the test above."""
    private_import = re.compile(r"^\s*(from|import)\s+dagster\._", re.M)
    users = [str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*.py")
             if p.name != "dagster_private.py" and private_import.search(p.read_text())]
    assert users == []


def test_the_default_instance_uses_dagsters_default_launcher(tmp_path: Path) -> None:
    """The warm launcher is opt-in: the project's dagster.yaml alone keeps Dagster's default launcher."""
    import dagster as dg
    import yaml

    repo = PACKAGE.parent
    assert "run_launcher" not in (yaml.safe_load((repo / "dagster.yaml").read_text()) or {})
    (tmp_path / "dagster.yaml").write_text((repo / "dagster.yaml").read_text())
    with dg.DagsterInstance.from_config(str(tmp_path)) as instance:
        assert type(instance.run_launcher).__name__ == "DefaultRunLauncher"
