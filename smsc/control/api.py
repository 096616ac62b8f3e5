"""The control API as an ASGI app (Starlette): /metrics and status for operators and tests.

Starlette because it is a small, well-kept ASGI toolkit that hypercorn's trio worker serves
as it is; the API's JSON is plain dicts, so a larger framework would add nothing here yet.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from smsc.metrics import CONTENT_TYPE, SmscMetrics

StatusSource = Callable[[], dict[str, Any]]


class BearerToken(BaseHTTPMiddleware):
    """Refuses every request without `Authorization: Bearer <token>` (when a token is set)."""

    def __init__(self, app: Any, token: str) -> None:
        super().__init__(app)
        self.expected = f"Bearer {token}"

    async def dispatch(
        self, request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        if request.headers.get("authorization") != self.expected:
            return JSONResponse({"error": "unauthorized"}, status_code=401)
        return await call_next(request)


def build_app(*, metrics: SmscMetrics, status: StatusSource, token: str = "") -> Starlette:
    async def render_metrics(request: Request) -> Response:
        return Response(metrics.render(), media_type=CONTENT_TYPE)

    async def render_status(request: Request) -> Response:
        return JSONResponse(status())

    middleware = [Middleware(BearerToken, token=token)] if token else []
    return Starlette(
        routes=[
            Route("/metrics", render_metrics),
            Route("/v1/status", render_status),
        ],
        middleware=middleware,
    )
