"""Daily re-fits of the replay's models: which hours use which re-fit, K-means matched to the centres in
force, every customer's point as the hours compute it."""

from __future__ import annotations

import datetime as dt

import numpy as np
from pyspark.sql import SparkSession

from ecom_assets.commands.replay import refit_to_write
from ecom_assets.replay.models.refit import refit_centres
from ecom_assets.replay.models.segments import Centres
from ecom_assets.replay.orchestration.refit_schedule import refit_day_for
from ecom_assets.settings import DEFAULT_REFIT_LAG_DAYS


def _hour(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC)


def test_the_re_fit_of_an_hour_depends_on_the_hour_alone() -> None:
    assert DEFAULT_REFIT_LAG_DAYS == 2
    assert refit_day_for(_hour("2019-11-01T05:00")) is None
    assert refit_day_for(_hour("2019-11-02T23:00")) is None
    assert refit_day_for(_hour("2019-11-03T00:00")) == dt.date(2019, 11, 1)
    assert refit_day_for(_hour("2019-11-30T23:00")) == dt.date(2019, 11, 28)
    assert refit_day_for(_hour("2019-11-02T00:00"), lag_days=1) == dt.date(2019, 11, 1)


def test_ecom_replay_re_fits_a_day_only_before_an_hour_that_uses_it() -> None:
    written = {dt.date(2019, 11, 1)}
    assert refit_to_write("2019-11-02-23:00", 2, written.__contains__) is None  # the batch models serve it
    assert refit_to_write("2019-11-03-00:00", 2, written.__contains__) is None  # its re-fit is there
    assert refit_to_write("2019-11-04-00:00", 2, written.__contains__) == dt.date(2019, 11, 2)
    assert refit_to_write("2019-11-02-00:00", 1, written.__contains__) is None


def test_refit_centres_keep_each_segment_s_id(spark: SparkSession) -> None:
    """Three groups of customers, the centres in force listed in another order than K-means finds them and
    slightly off: each re-fitted centre lands on its group and keeps the id of the centre it replaces."""
    rng = np.random.default_rng(11)
    truth = np.array([[5.0, 0.0, 0.0], [0.0, 5.0, 0.0], [0.0, 0.0, 5.0]])
    sizes = [300, 200, 100]
    points = np.vstack([c + rng.normal(0, 0.3, (n, 3)) for c, n in zip(truth, sizes, strict=True)])
    frame = spark.createDataFrame([([float(x) for x in p],) for p in points], "scaled array<double>")
    order = [2, 0, 1]
    previous = Centres(truth[order] + 0.5, np.ones(3), np.ones(3, dtype=np.int64))
    refitted = refit_centres(frame, previous)
    assert np.allclose(refitted.centres, truth[order], atol=0.1)
    assert refitted.users.tolist() == [sizes[i] for i in order]
    assert refitted.weights.tolist() == [float(sizes[i]) for i in order]


def test_only_the_newest_re_fit_packs_are_kept(tmp_path) -> None:
    import os

    from ecom_assets.replay.models.batch_models import _remove_older_packs

    for day in range(1, 5):
        pack = tmp_path / f"recs_models-refit-2019-11-0{day}.pkl"
        pack.write_bytes(b"x")
        os.utime(pack, ns=(day * 10**9, day * 10**9))
    (tmp_path / "recs_models-batch.pkl").write_bytes(b"x")
    _remove_older_packs(str(tmp_path / "recs_models-refit-2019-11-04.pkl"), "recs_models-refit-*.pkl", keep=2)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "recs_models-batch.pkl", "recs_models-refit-2019-11-03.pkl", "recs_models-refit-2019-11-04.pkl"]
