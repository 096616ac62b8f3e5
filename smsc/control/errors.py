"""The control API's typed errors and its one way of reading a JSON body."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from starlette.requests import Request


class BadRequest(Exception):
    """Input the API cannot use (HTTP 400, or 422 for a well-formed body with bad values)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


class BodyTooLarge(BadRequest):
    """A request body over the configured limit (HTTP 413), found before it is all read."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"the body is larger than {limit} octets", 413)


class NotFound(LookupError):
    """No such session, message or network (HTTP 404)."""


def refuse_unknown_fields(body: dict[str, Any], allowed: Iterable[str]) -> None:
    """422 naming the first field of `body` outside `allowed`: every endpoint words it so."""
    unknown = set(body) - set(allowed)
    if unknown:
        raise BadRequest(f"unknown field {sorted(unknown)[0]!r}", 422)


def refuse_unknown_params(request: Request, allowed: Iterable[str]) -> None:
    """400 naming the first query parameter outside `allowed`."""
    unknown = set(request.query_params) - set(allowed)
    if unknown:
        raise BadRequest(f"unknown parameter {sorted(unknown)[0]!r}")


def int_param(request: Request, name: str, default: int, low: int, high: int) -> int:
    """The query parameter `name` as an integer in [low, high] (`default` when absent)."""
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(f"{name} must be an integer") from None
    if not low <= value <= high:
        raise BadRequest(f"{name} must be between {low} and {high}")
    return value


async def json_object(request: Request, *, empty_ok: bool = False) -> dict[str, Any]:
    """The request's body as a JSON object (an empty body is {} when `empty_ok`)."""
    raw = await request.body()
    if empty_ok and not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise BadRequest("the body must be JSON") from None
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object")
    return body
