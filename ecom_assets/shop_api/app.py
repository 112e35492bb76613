"""The FastAPI application: the endpoints, their response shapes (OpenAPI at ``/docs``) and errors.

An unknown id is a 404 whose ``detail`` says what was not found, a bad parameter a 422 (FastAPI's
validation), a lake without the needed tables a 503 saying what to materialize; a failing request never
stops the server. The endpoints are ``async``: an answer is a few binary searches in memory-mapped
tables (about half a millisecond), cheaper than handing it to a thread.
"""

from __future__ import annotations

import json
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import FastAPI, Path, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel

from ecom_assets.shop_api import answers
from ecom_assets.shop_api.answers import NotFound
from ecom_assets.shop_api.snapshot import NotReady
from ecom_assets.shop_api.store import SnapshotStore

MAX_ITEMS = 100
UserId = Annotated[int, Path(ge=0, description="A user id of the shop (REES46 user_id)")]
ProductId = Annotated[int, Path(ge=0, description="A product id of the shop (REES46 product_id)")]
Count = Annotated[int, Query(ge=1, le=MAX_ITEMS, description="How many products to return")]


class ReasonOut(BaseModel):
    """Why one product is recommended: the blend's largest weighted component, in words."""

    kind: str
    text: str
    because_product_id: int | None


class Parts(BaseModel):
    """The blend's three components (or their weighted parts)."""

    als: float
    content: float
    popularity: float


class Recommended(BaseModel):
    """One recommended product."""

    product_id: int
    rank: int
    score: float | None
    label: str
    reason: ReasonOut
    components: Parts | None
    weighted: Parts | None


class Recommendations(BaseModel):
    """A user's list; ``source``: replay (the list the live replay served them last, at ``served_at``), batch
    (their list from the batch graph), cold_start_segment or cold_start_global."""

    user_id: int
    segment: str
    source: str
    served_at: str | None
    items: list[Recommended]


class Neighbour(BaseModel):
    """A product similar to the one asked about."""

    product_id: int
    rank: int
    similarity: float
    label: str


class Similar(BaseModel):
    """A product's most similar products by content."""

    product_id: int
    label: str
    items: list[Neighbour]


class UserSegment(BaseModel):
    """A user's segment and the segment's profile."""

    user_id: int
    segment: str
    profile: dict[str, float | int | str | None]


def _json(body: dict) -> Response:
    """The answer as JSON, serialised once: the shapes above document it (OpenAPI) without validating each
    response again, which costs more than computing it (docs/benchmarks.md, ``serve-load``)."""
    return Response(json.dumps(body, separators=(",", ":")), media_type="application/json")


def create_app(store: SnapshotStore, refresh_in_background: bool = True) -> FastAPI:
    """The API over ``store``; with ``refresh_in_background`` a thread reloads newer tables as they land."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        store.refresh()
        stop = threading.Event()
        if refresh_in_background:
            threading.Thread(target=store.keep_fresh, args=(stop,), name="lake-refresh", daemon=True).start()
        yield
        stop.set()

    app = FastAPI(title="E-commerce recommendations", lifespan=lifespan,
                  description="Each user's recommendations with the reason for each product, similar products "
                              "and customer segments, from the lake the Dagster graph materialized.")

    @app.exception_handler(NotFound)
    async def not_found(_: Request, exc: NotFound) -> JSONResponse:
        return JSONResponse(status_code=404, content={"detail": str(exc)})

    @app.exception_handler(NotReady)
    async def not_ready(_: Request, exc: NotReady) -> JSONResponse:
        return JSONResponse(status_code=503, content={"detail": str(exc)})

    @app.get("/health", summary="Liveness: the process answers")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/ready", summary="Readiness: the tables served, or 503 saying what is missing")
    async def ready() -> dict:
        return {"status": "ready", **answers.status(store.current)}

    @app.get("/users/{user_id}/recommendations", response_model=Recommendations,
             summary="What to show this user now, each product with its reason")
    async def recommendations(user_id: UserId, n: Count = 10) -> Response:
        return _json(answers.recommendations(store.current, user_id, n))

    @app.get("/users/{user_id}/segment", response_model=UserSegment, responses={404: {"description": "Unknown user"}},
             summary="The user's customer segment and its profile")
    async def segment(user_id: UserId) -> Response:
        return _json(answers.user_segment(store.current, user_id))

    @app.get("/products/{product_id}/similar", response_model=Similar,
             responses={404: {"description": "Unknown product"}}, summary="What goes next to this product")
    async def similar(product_id: ProductId, n: Count = 10) -> Response:
        return _json(answers.similar_products(store.current, product_id, n))

    return app
