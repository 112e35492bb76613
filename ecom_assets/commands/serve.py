"""``ecom serve``: the shop's HTTP API over the lake's recommendations (uvicorn, 127.0.0.1 by default)."""

from __future__ import annotations

import uvicorn

from ecom_assets.settings import Settings
from ecom_assets.shop_api.app import create_app
from ecom_assets.shop_api.store import SnapshotStore


def run_serve(settings: Settings, host: str | None = None, port: int | None = None, refresh_s: float = 5.0) -> None:
    """Serve until interrupted; the lake's tables are re-read within ``refresh_s`` seconds of changing."""
    app = create_app(SnapshotStore(settings.lake, refresh_s))
    uvicorn.run(app, host=host or settings.serve_host, port=port or settings.serve_port, log_level="info",
                access_log=False)
