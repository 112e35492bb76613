"""``ecom serve``: the real server on a free port, its endpoints, reasons, errors and the switch to newer
tables, first on a small lake written here (the assets' columns), then on the lake the whole graph made."""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import requests

from ecom_assets.commands.doctor import check_shop_api
from ecom_assets.processes import free_port
from ecom_assets.shop_api.launch import start_server, wait_until
from ecom_assets.settings import load_settings
from ecom_assets_tests.conftest import REDIRECTING_SETTINGS, TrainedLake


def _write(lake: Path, name: str, frame: pd.DataFrame, schema: pa.Schema | None = None) -> None:
    """A finished Spark-like table: one Parquet file and the _SUCCESS marker."""
    folder = lake / "processed" / name
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.parquet"):
        old.unlink()
    (folder / "_SUCCESS").unlink(missing_ok=True)
    pq.write_table(pa.Table.from_pandas(frame, schema=schema, preserve_index=False),
                   folder / f"part-{time.time_ns()}.parquet")
    (folder / "_SUCCESS").write_text("")


def _recs(rows: list[tuple]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["user_id", "segment", "product_id", "rank", "hybrid_score", "als", "content",
                                       "popularity"])


# User 1 (Top customers; weights als 0.5, content 0.3, popularity 0.2) viewed product 10 last.
FIRST_LISTS = [(1, "Top customers", 11, 1, 0.5, 0.1, 0.8, 0.1),  # content via 10 (cosine 0.8)
               (1, "Top customers", 12, 2, 0.48, 0.9, 0.1, 0.1),  # ALS
               (1, "Top customers", 13, 3, 0.2, 0.0, 0.0, 1.0),  # popularity in the segment
               (1, "Top customers", 14, 4, 0.19, 0.0, 0.6, 0.05)]  # content from the category affinity


def small_lake(root: Path) -> Path:
    """The tables ``ecom serve`` reads, small and made up, in the columns the assets write."""
    _write(root, "hybrid_recs", _recs(FIRST_LISTS))
    _write(root, "hybrid_weights", pd.DataFrame({
        "segment": ["Top customers", "Unknown"], "w_als": [0.5, 0.4], "w_content": [0.3, 0.3],
        "w_popularity": [0.2, 0.3], "fold_ndcg_at_10": [[0.1], [0.1]], "validation_users": [10, 20]}))
    _write(root, "hybrid_settings", pd.DataFrame({"als_candidates": [30], "recent_products": [10],
                                                  "popular_candidates": [50], "weight_step": [0.1],
                                                  "min_segment_users": [200]}))
    _write(root, "segment_top_products", pd.DataFrame({
        "segment": ["Top customers", "Top customers", "Unknown"], "product_id": [13, 15, 16],
        "popularity_score": [1.0, 0.7, 1.0], "rank": [1, 2, 1]}))
    _write(root, "user_segments", pd.DataFrame({"user_id": [1, 2], "segment": ["Top customers", "Top customers"]}))
    _write(root, "segment_profiles", pd.DataFrame({"segment": ["Top customers"], "cluster": [0], "users": [2],
                                                   "revenue_share": [0.9], "mean_monetary": [350.0]}))
    _write(root, "content_similarity", pd.DataFrame({"product_id": [10, 10, 20], "similar_product_id": [11, 14, 11],
                                                     "similarity": [0.8, 0.2, 0.6], "rank": [1, 2, 1]}))
    _write(root, "product_attributes", pd.DataFrame({
        "product_id": [10, 11, 12, 13, 14], "category_id": [1, 1, 2, 3, 1],
        "category_code": ["electronics.smartphone", "electronics.smartphone", None, "appliances.kitchen", None],
        "brand": ["samsung", "apple", "bosch", None, None], "price": [300.0, 900.0, 50.0, 80.0, 20.0]}))
    seen = [dt.datetime(2019, 10, 30, tzinfo=dt.UTC), dt.datetime(2019, 10, 10, tzinfo=dt.UTC)]
    _write(root, "replay_base_pairs", pd.DataFrame({"user_id": [1, 1], "product_id": [10, 20], "views": [3, 1],
                                                    "carts": [0, 0], "purchases": [0, 0], "last_seen": seen}))
    return root


@dataclass
class Server:
    """A running ``ecom serve``."""

    url: str
    process: subprocess.Popen

    def get(self, path: str, **params: object) -> requests.Response:
        """GET ``path`` from the server."""
        return requests.get(self.url + path, params=params, timeout=30)


@pytest.fixture()
def serve(tmp_path: Path) -> Iterator:
    """Start ``ecom serve`` on a lake (refreshing every 0.2 s); stopped after the test."""
    started: list[subprocess.Popen] = []

    def start(lake: Path) -> Server:
        env = {k: v for k, v in os.environ.items() if k not in REDIRECTING_SETTINGS}
        env["DAGSTER_HOME"] = str(tmp_path / "dagster_home")
        log = tmp_path / f"serve-{len(started)}.log"
        process, url = start_server(lake, refresh_s=0.2, env=env, log=log.open("w"))
        started.append(process)
        try:
            wait_until(url, process, "/health", timeout_s=120)
        except RuntimeError as exc:
            pytest.fail(f"{exc}:\n{log.read_text()}")
        return Server(url, process)

    yield start
    for process in started:
        process.terminate()
        process.wait(timeout=30)


def _eventually(check, timeout_s: float = 30.0):
    """``check()`` once it stops raising AssertionError (the server reloads in the background)."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return check()
        except AssertionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def test_every_endpoint_with_reasons_errors_and_openapi(tmp_path: Path, serve) -> None:
    server = serve(small_lake(tmp_path / "lake"))
    listed = server.get("/users/1/recommendations", n=10).json()
    assert (listed["source"], listed["segment"]) == ("batch", "Top customers")
    reasons = [(i["product_id"], i["reason"]["kind"], i["reason"]["because_product_id"]) for i in listed["items"]]
    assert reasons == [(11, "content", 10), (12, "als", None), (13, "popularity", None), (14, "category", None)]
    first = listed["items"][0]
    assert first["reason"]["text"] == "similar to product 10 (electronics.smartphone, samsung), which you looked at"
    assert first["weighted"] == pytest.approx({"als": 0.05, "content": 0.24, "popularity": 0.02})
    assert first["label"] == "product 11 (electronics.smartphone, apple)"
    assert [i["rank"] for i in server.get("/users/1/recommendations", n=2).json()["items"]] == [1, 2]

    cold = server.get("/users/2/recommendations").json()  # segmented, but no list of their own
    assert cold["source"] == "cold_start_segment" and [i["product_id"] for i in cold["items"]] == [13, 15]
    stranger = server.get("/users/999/recommendations").json()
    assert stranger["source"] == "cold_start_global" and [i["product_id"] for i in stranger["items"]] == [16]
    assert stranger["items"][0]["reason"]["text"] == "popular with every shopper"

    similar = server.get("/products/10/similar").json()
    assert [(i["product_id"], i["similarity"]) for i in similar["items"]] == [(11, 0.8), (14, 0.2)]
    segment = server.get("/users/1/segment").json()
    assert segment["segment"] == "Top customers" and segment["profile"]["mean_monetary"] == 350.0

    missing = server.get("/products/999/similar")
    assert missing.status_code == 404 and "product 999" in missing.json()["detail"]
    assert server.get("/users/999/segment").status_code == 404
    for path, params in (("/users/abc/recommendations", {}), ("/users/1/recommendations", {"n": 0}),
                         ("/users/1/recommendations", {"n": 101}), ("/users/-5/segment", {}),
                         ("/products/10/similar", {"n": "ten"})):
        assert server.get(path, **params).status_code == 422, (path, params)
    assert server.get("/docs").status_code == 200
    paths = server.get("/openapi.json").json()["paths"]
    assert {"/users/{user_id}/recommendations", "/users/{user_id}/segment", "/products/{product_id}/similar",
            "/health", "/ready"} <= set(paths)
    assert server.process.poll() is None  # nothing above stopped it
    port = int(server.url.rsplit(":", 1)[1])
    doctor = check_shop_api(dataclasses.replace(load_settings(), serve_port=port))
    assert doctor.status == "ok" and "ready" in doctor.detail


def test_newer_tables_are_served_without_a_restart_and_a_half_written_one_never(tmp_path: Path, serve) -> None:
    lake = small_lake(tmp_path / "lake")
    server = serve(lake)
    version = server.get("/ready").json()["tables"]["hybrid_recs"]
    # A materialization in progress: Spark removed the marker and left a truncated file.
    (lake / "processed" / "hybrid_recs" / "_SUCCESS").unlink()
    (lake / "processed" / "hybrid_recs" / "part-broken.parquet").write_bytes(b"PAR1 not finished")
    time.sleep(1.0)
    assert [i["product_id"] for i in server.get("/users/1/recommendations").json()["items"]] == [11, 12, 13, 14]
    assert server.get("/ready").json()["tables"]["hybrid_recs"] == version
    _write(lake, "hybrid_recs", _recs([(1, "Top customers", 13, 1, 0.3, 0.0, 0.0, 1.0),
                                       (2, "Top customers", 12, 1, 0.4, 0.8, 0.0, 0.0)]))

    def switched() -> dict:
        ready = server.get("/ready").json()
        assert ready["tables"]["hybrid_recs"] != version
        return ready

    _eventually(switched)
    assert [i["product_id"] for i in server.get("/users/1/recommendations").json()["items"]] == [13]
    assert server.get("/users/2/recommendations").json()["source"] == "batch"


def _served_hour(lake: Path, hour: str, lists: list[tuple[int, list[int], list[float]]]) -> None:
    """One replayed hour's served lists (user, products, content components), as the replay writes them."""
    folder = lake / "processed" / "replay" / "served_recs" / f"hour={hour}"
    folder.mkdir(parents=True)
    served_at = dt.datetime.strptime(hour, "%Y-%m-%dT%H").replace(tzinfo=dt.UTC)
    table = pa.table({
        "user_id": pa.array([u for u, _, _ in lists], pa.int64()),
        "segment": ["Top customers"] * len(lists),
        "products": pa.array([p for _, p, _ in lists], pa.list_(pa.int64())),
        "als": pa.array([[0.0] * len(p) for _, p, _ in lists], pa.list_(pa.float32())),
        "content": pa.array([c for _, _, c in lists], pa.list_(pa.float32())),
        "popularity": pa.array([[0.1] * len(p) for _, p, _ in lists], pa.list_(pa.float32())),
        "served_at": pa.array([served_at] * len(lists), pa.timestamp("us", tz="UTC"))})
    pq.write_table(table, folder / "part-00000.parquet")
    (folder / "_SUCCESS").write_text("")


def test_the_replays_newest_hour_is_served_as_it_lands(tmp_path: Path, serve) -> None:
    lake = small_lake(tmp_path / "lake")
    server = serve(lake)
    assert server.get("/users/1/recommendations").json()["source"] == "batch"
    _served_hour(lake, "2019-11-01T00", [(1, [11, 14], [0.8, 0.6]), (2, [12], [0.1])])

    def replayed(user: int, products: list[int], served_at: str) -> dict:
        answer = server.get(f"/users/{user}/recommendations").json()
        assert (answer["source"], answer["served_at"]) == ("replay", served_at)
        assert [i["product_id"] for i in answer["items"]] == products
        return answer

    first = _eventually(lambda: replayed(1, [11, 14], "2019-11-01T00:00:00+00:00"))
    assert [(i["reason"]["kind"], i["reason"]["because_product_id"]) for i in first["items"]] == [
        ("content", 10), ("category", None)]
    assert first["items"][0]["score"] == pytest.approx(0.3 * 0.8 + 0.2 * 0.1)
    _served_hour(lake, "2019-11-01T01", [(1, [13], [0.0])])  # user 1 again; user 2 keeps hour 00's list
    _eventually(lambda: replayed(1, [13], "2019-11-01T01:00:00+00:00"))
    replayed(2, [12], "2019-11-01T00:00:00+00:00")
    assert server.get("/ready").json()["tables"]["replay_served_through"] == "2019-11-01 01:00"


def test_a_lake_without_the_lists_says_what_to_materialize(tmp_path: Path, serve) -> None:
    server = serve(tmp_path / "empty-lake")
    answer = server.get("/users/1/recommendations")
    assert answer.status_code == 503 and "ecom materialize --select" in answer.json()["detail"]
    assert server.get("/ready").status_code == 503 and server.get("/health").status_code == 200
    doctor = check_shop_api(dataclasses.replace(load_settings(), serve_port=int(server.url.rsplit(":", 1)[1])))
    assert doctor.status == "WARN" and "hybrid_recs" in doctor.detail
    assert check_shop_api(dataclasses.replace(load_settings(), serve_port=free_port())).detail.startswith("not running")


def test_the_lists_the_graph_and_the_replay_made(replayed: TrainedLake, serve) -> None:
    """On the test lake after five replayed hours: a user the replay served gets the list of their latest
    served hour, the others their batch list in order; each reason is the largest weighted component, and a
    content reason names a product the user touched."""
    lake = replayed.root / "lake"
    server = serve(lake)
    served = pq.read_table(lake / "processed" / "replay" / "served_recs").to_pandas()
    served["hour"] = served["hour"].astype(str)
    latest = served.sort_values("hour").drop_duplicates("user_id", keep="last").set_index("user_id")
    for user in latest.index[:15]:
        answer = server.get(f"/users/{user}/recommendations").json()
        assert answer["source"] == "replay", user
        assert [i["product_id"] for i in answer["items"]] == list(latest.loc[user, "products"])
        assert answer["served_at"].startswith(latest.loc[user, "hour"].replace("T", "T"))
    recs = pq.read_table(lake / "processed" / "hybrid_recs").to_pandas()
    users = [u for u in recs["user_id"].drop_duplicates().sort_values() if u not in latest.index][:40]
    pairs = pq.read_table(lake / "processed" / "replay_base_pairs").to_pandas()
    kinds = set()
    for user in users:
        answer = server.get(f"/users/{user}/recommendations").json()
        expected = recs[recs["user_id"] == user].sort_values("rank")
        assert answer["source"] == "batch"
        assert [i["product_id"] for i in answer["items"]] == expected["product_id"].tolist()
        touched = set(pairs.loc[pairs["user_id"] == user, "product_id"])
        for item in answer["items"]:
            weighted = item["weighted"]
            kind = item["reason"]["kind"]
            kinds.add(kind)
            main = "content" if kind == "category" else kind
            assert weighted[main] == max(weighted.values()), (user, item)
            if kind == "content":
                assert item["reason"]["because_product_id"] in touched
    assert {"als", "popularity"} & kinds and ("content" in kinds or "category" in kinds)
    product = int(recs["product_id"].iloc[0])
    assert server.get(f"/products/{product}/similar").status_code in (200, 404)
    assert server.get(f"/users/{users[0]}/segment").json()["segment"]
