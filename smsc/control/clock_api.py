"""The clock's HTTP endpoints: `GET /v1/clock` and `POST /v1/clock/advance`.

Thin JSON handlers over `ClockControl`; their OpenAPI paths are `CLOCK_PATHS` below, merged
into the description by `control/api.py`.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from smsc.control.errors import BadRequest, json_object, refuse_unknown_fields
from smsc.delivery.clock_control import ClockControl, ClockView

MAX_ADVANCE = 10 * 366 * 86400.0
"""The longest single advance (ten years): wall times must stay within what datetime holds."""


def clock_json(view: ClockView) -> dict[str, Any]:
    return {"now": view.now.isoformat(), "scale": view.scale, "real": view.real.isoformat(),
            "advanced": view.advanced}


def advance_request(body: dict[str, Any], now: datetime) -> tuple[float, datetime | None]:
    """(seconds, None) or (0, time to advance to) from an advance's body."""
    refuse_unknown_fields(body, ("seconds", "to"))
    if ("seconds" in body) == ("to" in body):
        raise BadRequest("give either seconds or to", 422)
    if "seconds" in body:
        seconds = body["seconds"]
        if type(seconds) not in (int, float) or not math.isfinite(seconds):
            raise BadRequest("seconds must be a number", 422)
        if seconds < 0:
            raise BadRequest("seconds must not be negative: time never runs backwards", 422)
        if seconds > MAX_ADVANCE:
            raise BadRequest(f"seconds must be at most {MAX_ADVANCE:.0f}", 422)
        return float(seconds), None
    raw = body["to"]
    if not isinstance(raw, str) or len(raw) > 64:
        raise BadRequest("to must be an ISO 8601 time", 422)
    try:
        to = datetime.fromisoformat(raw)
    except ValueError:
        raise BadRequest("to must be an ISO 8601 time", 422) from None
    if to.tzinfo is None:
        to = to.replace(tzinfo=UTC)
    try:
        ahead = (to - now).total_seconds()
    except OverflowError:  # pragma: no cover - (aware datetimes subtract without overflow)
        raise BadRequest("to is out of range", 422) from None
    if ahead < 0:
        raise BadRequest(f"to is in the past (now {now.isoformat()}): time never runs "
                         "backwards", 422)
    if ahead > MAX_ADVANCE:
        raise BadRequest(f"to is more than {MAX_ADVANCE:.0f} seconds ahead", 422)
    return 0.0, to


def clock_routes(clock: ClockControl) -> list[Route]:
    async def read_clock(request: Request) -> Response:
        return JSONResponse(clock_json(clock.view()))

    async def advance(request: Request) -> Response:
        seconds, to = advance_request(await json_object(request), clock.clock.wall())
        try:
            view = await (clock.advance(seconds) if to is None else clock.advance_to(to))
        except ValueError as error:  # (a `to` that became past while another advance ran)
            raise BadRequest(str(error), 422) from None
        return JSONResponse(clock_json(view))

    return [
        Route("/v1/clock", read_clock),
        Route("/v1/clock/advance", advance, methods=["POST"]),
    ]


# -- OpenAPI ------------------------------------------------------------------------------

JSON = "application/json"
_ERROR = {"$ref": "#/components/schemas/Error"}
_CLOCK = {"description": "the clock", "content": {JSON: {"schema": {
    "$ref": "#/components/schemas/Clock"}}}}

CLOCK_SCHEMAS: dict[str, Any] = {
    "Clock": {"type": "object", "required": ["now", "scale", "real", "advanced"],
              "properties": {
        "now": {"type": "string", "format": "date-time",
                "description": "simulated time (ISO 8601, UTC): what receipts, query_sm and "
                               "the API show"},
        "scale": {"type": "number", "description": "simulated seconds per real second "
                                                   "(simulation.time_scale)"},
        "real": {"type": "string", "format": "date-time",
                 "description": "the host's time (ISO 8601, UTC)"},
        "advanced": {"type": "number",
                     "description": "seconds the clock was advanced by hand, in all"}}},
    "ClockAdvance": {
        "type": "object", "additionalProperties": False, "minProperties": 1,
        "maxProperties": 1,
        "description": "either seconds or to; everything due in between happens, in order, "
                       "before the answer",
        "properties": {
            "seconds": {"type": "number", "minimum": 0, "maximum": MAX_ADVANCE},
            "to": {"type": "string", "format": "date-time", "maxLength": 64,
                   "description": "ISO 8601 (UTC when no offset is given), not in the past"}}},
}

CLOCK_PATHS: dict[str, Any] = {
    "/v1/clock": {"get": {"summary": "Simulated time, its scale, and real time",
                          "responses": {"200": _CLOCK}}},
    "/v1/clock/advance": {"post": {
        "summary": "Move simulated time forward; returns once everything due up to the new "
                   "time (retries, expiry, scheduled delivery, latencies, handset schedules, "
                   "outages, MO traffic) has happened and is stored",
        "requestBody": {"required": True, "content": {JSON: {
            "schema": {"$ref": "#/components/schemas/ClockAdvance"}}}},
        "responses": {
            "200": _CLOCK,
            "400": {"description": "the body is not a JSON object",
                    "content": {JSON: {"schema": _ERROR}}},
            "413": {"description": "the body is too large",
                    "content": {JSON: {"schema": _ERROR}}},
            "422": {"description": "neither or both of seconds and to, a negative number, or "
                                   "a time in the past (time never runs backwards)",
                    "content": {JSON: {"schema": _ERROR}}}}}},
}
