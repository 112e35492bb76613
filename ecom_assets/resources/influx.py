"""The InfluxDB resource: picks the sink (1.x, 2.x/3.x or files) from the URL and the server's version."""

from __future__ import annotations

import dagster as dg
from pydantic import PrivateAttr

from ecom_assets.lake import Lake
from ecom_assets.publishing.sinks import FileSink, Sink, V1Sink, V2Sink, major_version, server_version


class InfluxResource(dg.ConfigurableResource):
    """``INFLUX_URL`` (empty: line-protocol files under the lake's ``temp/influx/``, or under the local
    state folder of a lake at a URI), ``INFLUX_DATABASE``, ``INFLUX_ORG`` and the secret ``INFLUX_TOKEN``;
    ``time_mode`` is ``shifted`` or ``original``."""

    url: str = ""
    database: str = "ecommerce_analytics"
    org: str = "ecommerce"
    token: str = ""
    time_mode: str = "shifted"
    lake_root: str = ""
    local_state_root: str = ""
    _sink: Sink | None = PrivateAttr(default=None)

    def sink(self) -> Sink:
        """The sink for this configuration, created (and its database ensured) once per run."""
        if self._sink is None:
            self._sink = self._build()
            self._sink.ensure_database()
        return self._sink

    def _build(self) -> Sink:
        """Choose the sink: files without a URL, else by the server's major version."""
        original = self.time_mode == "original"
        if not self.url:
            return FileSink(Lake(self.lake_root, self.local_state_root).local_state("influx") / self.database)
        major = major_version(server_version(self.url))
        if major == 1:
            return V1Sink(self.url, self.database, self.token, original)
        return V2Sink(self.url, self.database, self.org, self.token, original)
