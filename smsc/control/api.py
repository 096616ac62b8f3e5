"""The control API as an ASGI app (Starlette): metrics, status, sessions, messages, MO, dashboard.

Starlette because it is a small, well-kept ASGI toolkit that hypercorn's trio worker serves as
it is (anyio underneath, so trio needs no adapter); the API's JSON is plain dicts checked by a
few explicit validators, and the OpenAPI description is written out in `control/openapi.py`,
so FastAPI's pydantic models would add a large dependency and little else here.

Every handler turns bad input into a 4xx JSON answer `{"error": ...}`; a 5xx is a bug.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from importlib.resources import files
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from smsc.control.accounts_api import ACCOUNT_PATHS, ACCOUNT_SCHEMAS, account_routes
from smsc.control.clock_api import CLOCK_PATHS, CLOCK_SCHEMAS, clock_routes
from smsc.control.distribution_lists_api import (
    LIST_PATHS,
    LIST_SCHEMAS,
    distribution_list_routes,
)
from smsc.control.errors import (
    BadRequest,
    BodyTooLarge,
    NotFound,
    int_param,
    json_object,
    refuse_unknown_fields,
    refuse_unknown_params,
)
from smsc.control.openapi import openapi_document
from smsc.control.plane import ControlPlane
from smsc.control.simulation_api import (
    SIMULATION_PATHS,
    SIMULATION_SCHEMAS,
    simulation_routes,
)
from smsc.delivery.clock_control import ClockControl
from smsc.delivery.mobile import NoRoute, StoreFailed
from smsc.delivery.simulation import SimulationControl
from smsc.distribution_lists import DistributionLists
from smsc.pdu.constants import MessageState
from smsc.server.account_admin import AccountAdmin
from smsc.store import MessageQuery, parse_message_id

StatusSource = Callable[[], Awaitable[dict[str, Any]]]
TEXT_CODINGS = (0, 1, 3, 8)
"""data_coding values MO text may be forced to: GSM 7-bit, IA5, Latin-1, UCS2."""
MAX_LIMIT = 1000
MAX_TEXT = 5000
MAX_ADDRESS = 20
PUBLIC_PATHS = frozenset({"/"})
"""The dashboard page holds no data; it reads the API with the token given in its URL."""


MAX_BODY_BYTES = 65536
"""The default of control.max_body_bytes."""


class BodyLimit:
    """Answers 413 `{"error": ...}` for a request body over `limit` octets, before reading
    more of it: at once when Content-Length announces it, else as soon as the body streamed
    so far passes the limit (the handler reading it gets BodyTooLarge). A body is parsed on
    the event loop every SMPP session shares, so its size must be small and bounded."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit
        for name, value in scope["headers"]:
            if name == b"content-length" and int(value) > limit:  # h11 checked it is a number
                await _error(str(BodyTooLarge(limit)), 413)(scope, receive, send)
                return
        received = 0

        async def receive_within_limit() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        await self.app(scope, receive_within_limit, send)


class BearerToken(BaseHTTPMiddleware):
    """Refuses every request without `Authorization: Bearer <token>` (when a token is set);
    compared in constant time, so the answer's timing tells nothing about the token."""

    def __init__(self, app: Any, token: str) -> None:
        super().__init__(app)
        self.expected = f"Bearer {token}".encode()

    async def dispatch(
        self, request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        # header values arrive decoded as Latin-1: encoding them back gives the octets sent
        given = request.headers.get("authorization", "").encode("latin-1")
        if request.url.path not in PUBLIC_PATHS and not hmac.compare_digest(
            given, self.expected
        ):
            return JSONResponse({"error": "unauthorized"}, status_code=401,
                                headers={"WWW-Authenticate": "Bearer"})
        return await call_next(request)


def _error(message: str, status: int) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def message_query(request: Request, id_format: str) -> MessageQuery:
    """The /v1/messages filters: id, account, number (source or destination), state, limit."""
    params = request.query_params
    refuse_unknown_params(request, ("id", "account", "number", "state", "limit"))
    message_id = None
    if "id" in params:
        message_id = parse_message_id(params["id"], id_format)
        if message_id is None:
            raise BadRequest("id is not a message id")
    state = None
    if "state" in params:
        try:
            state = MessageState[params["state"].upper()]
        except KeyError:
            raise BadRequest(f"state must be one of {', '.join(s.name for s in MessageState)}"
                             ) from None
    return MessageQuery(
        message_id=message_id, system_id=params.get("account"), address=params.get("number"),
        state=state, limit=int_param(request, "limit", 100, 1, MAX_LIMIT),
    )


def _string(body: dict[str, Any], key: str, *, low: int, high: int) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not low <= len(value) <= high:
        raise BadRequest(f"{key} must be a string of {low} to {high} characters", 422)
    return value


def mo_request(body: dict[str, Any]) -> tuple[str, str, str, int | None]:
    refuse_unknown_fields(body, ("source_addr", "destination_addr", "text", "data_coding"))
    source = _string(body, "source_addr", low=1, high=MAX_ADDRESS)
    destination = _string(body, "destination_addr", low=1, high=MAX_ADDRESS)
    text = _string(body, "text", low=0, high=MAX_TEXT)
    coding = body.get("data_coding")
    if coding is not None and (type(coding) is not int or coding not in TEXT_CODINGS):
        raise BadRequest(f"data_coding must be one of {TEXT_CODINGS}", 422)
    return source, destination, text, coding


def build_metrics_app(control: ControlPlane, *, token: str = "") -> Starlette:
    """A `--workers` worker's metrics alone (this process's, no `node` label), on the
    loopback, for the first worker's /metrics to gather (`ControlPlane.render_metrics`)."""

    async def render_metrics(request: Request) -> Response:
        await control.refresh_store_snapshot()
        body, content_type = control.metrics.render(control.snapshot())
        return Response(body, headers={"Content-Type": content_type})

    middleware = [Middleware(BearerToken, token=token)] if token else []
    return Starlette(routes=[Route("/metrics", render_metrics)], middleware=middleware)


def build_app(control: ControlPlane, *, status: StatusSource, token: str = "",
              simulation: SimulationControl | None = None, clock: ClockControl | None = None,
              accounts: AccountAdmin | None = None, lists: DistributionLists | None = None,
              max_body_bytes: int = MAX_BODY_BYTES) -> Starlette:
    id_format = control.id_format
    dashboard = files("smsc.control").joinpath("dashboard.html").read_text(encoding="utf-8")
    document = openapi_document(
        {**(SIMULATION_PATHS if simulation else {}), **(CLOCK_PATHS if clock else {}),
         **(ACCOUNT_PATHS if accounts else {}), **(LIST_PATHS if lists is not None else {})},
        {**(SIMULATION_SCHEMAS if simulation else {}), **(CLOCK_SCHEMAS if clock else {}),
         **(ACCOUNT_SCHEMAS if accounts else {}),
         **(LIST_SCHEMAS if lists is not None else {})},
    )

    async def render_metrics(request: Request) -> Response:
        body, content_type = await control.render_metrics(request.headers.get("accept", ""),
                                                          token)
        return Response(body, headers={"Content-Type": content_type})

    async def render_status(request: Request) -> Response:
        return JSONResponse(await status())

    async def render_openapi(request: Request) -> Response:
        return JSONResponse(document)

    async def render_dashboard(request: Request) -> Response:
        return HTMLResponse(dashboard)

    async def overview(request: Request) -> Response:
        return JSONResponse(await control.overview())

    async def list_sessions(request: Request) -> Response:
        return JSONResponse({"sessions": await control.every_session()})

    async def one_session(request: Request) -> Response:
        link = control.find_session(request.path_params["session_id"])
        return JSONResponse(control.describe_session(link))

    async def unbind_session(request: Request) -> Response:
        session_id = request.path_params["session_id"]
        await control.unbind_session(session_id)
        return JSONResponse({"unbinding": session_id}, status_code=202)

    async def drop_session(request: Request) -> Response:
        session_id = request.path_params["session_id"]
        control.drop_session(session_id)
        return JSONResponse({"dropped": session_id})

    async def list_messages(request: Request) -> Response:
        query = message_query(request, id_format)
        return JSONResponse({"messages": await control.find_messages(query)})

    async def one_message(request: Request) -> Response:
        message_id = parse_message_id(request.path_params["message_id"], id_format)
        if message_id is None:
            raise NotFound("not a message id")
        return JSONResponse(await control.message(message_id))

    async def inject_mo(request: Request) -> Response:
        source, destination, text, coding = mo_request(await json_object(request))
        try:
            ids = await control.inject_mo(source, destination, text, coding)
        except NoRoute:
            raise BadRequest(f"no account receives MO messages for {destination!r}",
                             422) from None
        except StoreFailed as error:
            return _error(str(error), 503)
        except ValueError as error:  # TextError, GsmEncodeError, UnicodeEncodeError
            raise BadRequest(f"text cannot be written in this data_coding: {error}",
                             422) from None
        return JSONResponse({"message_ids": ids}, status_code=201)

    routes = [
        Route("/", render_dashboard),
        Route("/openapi.json", render_openapi),
        Route("/metrics", render_metrics),
        Route("/v1/status", render_status),
        Route("/v1/overview", overview),
        Route("/v1/sessions", list_sessions),
        Route("/v1/sessions/{session_id:int}", one_session),
        Route("/v1/sessions/{session_id:int}", drop_session, methods=["DELETE"]),
        Route("/v1/sessions/{session_id:int}/unbind", unbind_session, methods=["POST"]),
        Route("/v1/messages", list_messages),
        Route("/v1/messages/{message_id}", one_message),
        Route("/v1/mo", inject_mo, methods=["POST"]),
    ]
    if simulation is not None:
        routes += simulation_routes(simulation, id_format)
    if clock is not None:
        routes += clock_routes(clock)
    if accounts is not None:
        routes += account_routes(accounts)
    if lists is not None:
        routes += distribution_list_routes(lists, lambda: control.accounts)
    middleware = [Middleware(BodyLimit, limit=max_body_bytes)]
    if token:
        middleware.append(Middleware(BearerToken, token=token))

    async def bad_request(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, BadRequest)
        return _error(str(exc), exc.status)

    async def not_found(request: Request, exc: Exception) -> Response:
        return _error(str(exc), 404)

    async def http_error(request: Request, exc: Exception) -> Response:
        """Starlette's own refusals (no such path: 404, wrong method: 405, with its Allow
        header) in the API's error schema, not plain text."""
        assert isinstance(exc, HTTPException)
        return JSONResponse({"error": f"{exc.detail.lower()}: {request.method} "
                                      f"{request.url.path}"},
                            status_code=exc.status_code, headers=exc.headers)

    async def server_error(request: Request, exc: Exception) -> Response:
        return _error("internal error (a bug: the log has the traceback)", 500)

    return Starlette(
        routes=routes,
        middleware=middleware,
        exception_handlers={BadRequest: bad_request, NotFound: not_found,
                            HTTPException: http_error, Exception: server_error},
    )
