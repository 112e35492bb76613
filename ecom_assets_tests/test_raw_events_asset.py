"""The raw_events asset materialized through Dagster: metadata and checks, including the blocking one."""

from __future__ import annotations

import shutil
from pathlib import Path

import dagster as dg
import pytest
from pyspark.sql import SparkSession

from ecom_assets.commands.materialize import root_error_message, whole_steps
from ecom_assets.definitions import BATCH_ASSETS, build_resources
from ecom_assets.settings import load_settings


def materialize(selection: str = "raw_events") -> dg.ExecuteInProcessResult:
    """Materialize with resources built from the current environment on a throwaway instance."""
    return dg.materialize(
        BATCH_ASSETS,
        selection=whole_steps(BATCH_ASSETS, selection),
        resources=build_resources(load_settings()),
        instance=dg.DagsterInstance.ephemeral(),
        raise_on_error=False,
    )


def checks_of(result: dg.ExecuteInProcessResult) -> dict[str, bool]:
    """Check name -> passed."""
    return {e.check_name: e.passed for e in result.get_asset_check_evaluations()}


def test_materialize_real_heads(spark: SparkSession, real_heads: tuple[Path, Path], isolated_env: Path) -> None:
    october, november = real_heads
    shutil.copy(october, isolated_env / "input" / "2019-Oct.csv")
    shutil.copy(november, isolated_env / "input" / "2019-Nov.csv")
    result = materialize()
    assert result.success
    assert checks_of(result) == {
        "schema_and_types": True,
        "required_columns_not_null": True,
        "rows_conserved": True,
        "quarantine_rate_below_threshold": True,
    }
    # raw_events writes its quarantine beside it (the quarantined_lines asset): two materializations.
    [event] = [e for e in result.get_asset_materialization_events() if e.asset_key == dg.AssetKey("raw_events")]
    metadata = {k: v.value for k, v in event.materialization.metadata.items()}
    assert metadata["dagster/row_count"] == 17_434 + 683
    assert metadata["rows_quarantined"] == 1
    assert metadata["rows_per_month"] == {"2019-10": 17_434, "2019-11": 683}
    assert "wrong_column_count | 1" in metadata["quarantine_reasons"]
    assert metadata["first_event_utc"] == "2019-10-01 00:00:00"
    assert 0.25 < metadata["null_rate_category_code"] < 0.4
    assert (isolated_env / "lake" / "raw" / "events" / "event_date=2019-11-01").is_dir()


def test_mostly_broken_input_fails_the_blocking_check(spark: SparkSession, isolated_env: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    good = "2019-11-02 10:00:00 UTC,view,1004237,2053013555631882655,electronics.smartphone,apple,1.00,5,s"
    (isolated_env / "input" / "2019-Nov.csv").write_text("\n".join([good] * 5 + ["broken;line"] * 5) + "\n")
    monkeypatch.setenv("ECOM_MAX_QUARANTINE_RATE", "0.2")
    result = materialize()
    checks = checks_of(result)
    assert checks["quarantine_rate_below_threshold"] is False
    assert checks["rows_conserved"] is True
    [evaluation] = [e for e in result.get_asset_check_evaluations() if e.check_name == "quarantine_rate_below_threshold"]
    assert evaluation.severity == dg.AssetCheckSeverity.ERROR
    assert evaluation.metadata["quarantine_rate"].value == 0.5


def test_missing_input_is_a_clear_failure(spark: SparkSession, isolated_env: Path) -> None:
    result = materialize()
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    message = root_error_message(failure.step_failure_data.error)
    assert message.startswith("FileNotFoundError: no 2019-Oct.csv or 2019-Nov.csv in ECOM_DATA_DIR=")
    assert "ecom generate" in message


@pytest.mark.parametrize(("content", "expected"), [
    (b"", "the input holds no event line (0 line(s) in "),
    (b"event_time,event_type,product_id,category_id,category_code,brand,price,user_id,user_session\r\n",
     "the input holds no event line (1 line(s) in "),
    (b"\x00\xff garbage\n" * 3 + b"a;b;c\n", "none of the 4 data line(s) of "),
])
def test_input_without_a_valid_event_is_a_clear_failure(spark: SparkSession, isolated_env: Path, content: bytes,
                                                          expected: str) -> None:
    (isolated_env / "input" / "2019-Nov.csv").write_bytes(content)
    result = materialize()
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    message = root_error_message(failure.step_failure_data.error)
    assert message.startswith("NoValidEventsError: " + expected), message
    if "none of" in expected:
        assert "wrong_column_count 4" in message and "temp/quarantine/events" in message
