"""The API reference builds from the docstrings, strictly: a broken reference fails it (CI runs this)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _builder():
    spec = importlib.util.spec_from_file_location("build_api_docs", REPO / "scripts" / "build_api_docs.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_the_api_reference_builds_without_a_problem_and_has_a_page_per_module(tmp_path: Path) -> None:
    builder = _builder()
    assert builder.main(["--out", str(tmp_path)]) == 0
    pages = {p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.html")}
    for module in ("ecom_assets", "ecom_assets/lake", "ecom_assets/replay/hour", "ecom_assets/recommendation/hybrid"):
        assert f"{module}.html" in pages
    assert "Nobody else builds path strings" in (tmp_path / "ecom_assets" / "lake.html").read_text()


def test_a_reference_to_a_missing_object_is_found() -> None:
    import pdoc.doc

    builder = _builder()
    modules = {name: pdoc.doc.Module.from_name(name) for name in ("ecom_assets", "ecom_assets.lake")}
    assert builder.resolves("ecom_assets.lake", modules)
    assert not builder.resolves("ecom_assets.lake.no_such_function", modules)
    assert not builder.resolves("ecom_assets.no_such_module", modules)
    assert builder.REFERENCE.findall("see ``ecom_assets.lake.Lake`` and `ecom_assets.settings.load()`") == [
        "ecom_assets.lake.Lake", "ecom_assets.settings.load"]
