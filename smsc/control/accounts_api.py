"""The accounts' HTTP endpoints: list, get, create, change and delete at run time.

Thin JSON handlers over `AccountAdmin` (`smsc/server/account_admin.py`), which says what a
change reaches (new binds, live sessions); their OpenAPI paths are `ACCOUNT_PATHS` below,
merged into the description by `control/api.py`. Changes live in memory only: the config
file is never written, and a restart or a SIGHUP reload goes back to it. Passwords are
accepted, never answered.
"""

from __future__ import annotations

import dataclasses
import typing
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from smsc.config import AccountConfig, ConfigError, check_account, parse_section
from smsc.control.errors import BadRequest, NotFound, json_object, refuse_unknown_fields
from smsc.server.account_admin import RESTART_ONLY as RESTART_ONLY  # (embed.py's too)
from smsc.server.account_admin import AccountAdmin, UnknownDialect

SECRET = frozenset({"password", "outbind_password"})
"""Never answered."""
ELSEWHERE = frozenset({"distribution_lists"})
"""Answered under their own path (/v1/accounts/{system_id}/distribution-lists)."""
CHANGEABLE = tuple(f.name for f in dataclasses.fields(AccountConfig)
                   if f.name not in RESTART_ONLY and f.name != "system_id")
"""What a request may set: everything but the system_id (the account's name) and what
only a restart applies."""


def _refuse_restart_only(body: dict[str, Any]) -> None:
    """422 for keys only a restart applies, saying so (rather than "unknown field")."""
    for key in RESTART_ONLY:
        if key in body:
            raise BadRequest(f"{key} cannot change at run time: set it in the config file and "
                             "restart", 422)


def account_json(config: AccountConfig, binds: int) -> dict[str, Any]:
    view: dict[str, Any] = {}
    for field in dataclasses.fields(AccountConfig):
        if field.name in SECRET or field.name in ELSEWHERE:
            continue
        value = getattr(config, field.name)
        view[field.name] = list(value) if isinstance(value, tuple) else value
    view["binds"] = binds
    return view


def _account(body: dict[str, Any]) -> AccountConfig:
    """An account from a request's fields, checked like one in the config file."""
    try:
        config = parse_section(AccountConfig, body, "request body")
        check_account(config, "request body", "")
    except ConfigError as error:
        raise BadRequest(f"{error.key}: {error.problem}" if error.key else error.problem,
                         422) from None
    return config


def _put(admin: AccountAdmin, config: AccountConfig) -> None:
    try:
        admin.put(config)
    except UnknownDialect as error:
        raise BadRequest(f"receipt_dialect: {error}", 422) from None


def _writable(config: AccountConfig) -> dict[str, Any]:
    """The account's fields as a request body could give them (tuples as lists)."""
    return {name: list(value) if isinstance(value, tuple) else value
            for name, value in ((f.name, getattr(config, f.name))
                                for f in dataclasses.fields(AccountConfig))}


def account_routes(admin: AccountAdmin) -> list[Route]:
    binds = admin.binds

    def view(config: AccountConfig) -> dict[str, Any]:
        return account_json(config, binds.count(config.system_id))

    def existing(request: Request) -> AccountConfig:
        system_id = str(request.path_params["system_id"])
        config = admin.get(system_id)
        if config is None:
            raise NotFound(f"no account {system_id!r}")
        return config

    async def list_accounts(request: Request) -> Response:
        return JSONResponse({"accounts": [view(config) for config in admin.configs()]})

    async def one_account(request: Request) -> Response:
        return JSONResponse(view(existing(request)))

    async def create_account(request: Request) -> Response:
        body = await json_object(request)
        _refuse_restart_only(body)
        refuse_unknown_fields(body, ("system_id", *CHANGEABLE))
        if "system_id" not in body or "password" not in body:
            raise BadRequest("system_id and password are required", 422)
        config = _account(body)
        if admin.get(config.system_id) is not None:
            raise BadRequest(f"account {config.system_id!r} exists: PATCH it", 409)
        _put(admin, config)
        return JSONResponse(view(config), status_code=201)

    async def change_account(request: Request) -> Response:
        running = existing(request)
        body = await json_object(request)
        _refuse_restart_only(body)
        refuse_unknown_fields(body, CHANGEABLE)
        config = _account({**_writable(running), **body})
        _put(admin, config)
        return JSONResponse(view(config))

    async def delete_account(request: Request) -> Response:
        system_id = existing(request).system_id
        unbinding = admin.delete(system_id)
        return JSONResponse({"deleted": system_id, "unbinding": unbinding})

    return [
        Route("/v1/accounts", list_accounts),
        Route("/v1/accounts", create_account, methods=["POST"]),
        Route("/v1/accounts/{system_id}", one_account),
        Route("/v1/accounts/{system_id}", change_account, methods=["PATCH"]),
        Route("/v1/accounts/{system_id}", delete_account, methods=["DELETE"]),
    ]


# -- OpenAPI ---------------------------------------------------------------------------------

JSON = "application/json"
_JSON_TYPES = {bool: "boolean", int: "integer", float: "number", str: "string"}


def _schema_of(field: dataclasses.Field[Any], kind: Any) -> dict[str, Any]:
    """A field's JSON schema from its annotation and limits (those the config checks)."""
    limits: Any = field.metadata or {}
    if typing.get_origin(kind) is tuple:
        return {"type": "array", "items": _schema_of(field, typing.get_args(kind)[0])}
    schema: dict[str, Any] = {"type": _JSON_TYPES[kind]}
    if limits.get("choices"):
        schema["enum"] = list(limits["choices"])
    low, high = limits.get("min"), limits.get("max")
    if kind is str:
        if low is not None:
            schema["minLength"] = int(low)
        if high is not None:
            schema["maxLength"] = int(high)
    else:
        if low is not None:
            schema["minimum"] = low
        if high is not None:
            schema["maximum"] = high
    return schema


def _properties(names: tuple[str, ...]) -> dict[str, Any]:
    hints = typing.get_type_hints(AccountConfig)
    fields = {f.name: f for f in dataclasses.fields(AccountConfig)}
    return {name: _schema_of(fields[name], hints[name]) for name in names}


_VIEWED = tuple(f.name for f in dataclasses.fields(AccountConfig)
                if f.name not in SECRET and f.name not in ELSEWHERE)

ACCOUNT_SCHEMAS: dict[str, Any] = {
    "Account": {"type": "object", "required": ["system_id", "binds"], "properties": {
        **_properties(_VIEWED),
        "binds": {"type": "integer", "description": "sessions bound as the account now"}}},
    "NewAccount": {"type": "object", "required": ["system_id", "password"],
                   "additionalProperties": False,
                   "properties": _properties(("system_id", *CHANGEABLE))},
    "AccountChange": {"type": "object", "additionalProperties": False,
                      "properties": _properties(CHANGEABLE)},
}


def _ok(description: str, schema: str | None = None) -> dict[str, Any]:
    content = {"$ref": f"#/components/schemas/{schema}"} if schema else {"type": "object"}
    return {"description": description, "content": {JSON: {"schema": content}}}


def _fail(description: str) -> dict[str, Any]:
    return {"description": description,
            "content": {JSON: {"schema": {"$ref": "#/components/schemas/Error"}}}}


_SYSTEM_ID = {"name": "system_id", "in": "path", "required": True,
              "schema": {"type": "string", "minLength": 1, "maxLength": 15}}

ACCOUNT_PATHS: dict[str, Any] = {
    "/v1/accounts": {
        "get": {"summary": "Every account (passwords left out), with its live binds",
                "responses": {"200": _ok("accounts")}},
        "post": {"summary": "Create an account, for binds from now on (in memory only: the "
                            "config file is not written)",
                 "requestBody": {"required": True, "content": {JSON: {
                     "schema": {"$ref": "#/components/schemas/NewAccount"}}}},
                 "responses": {"201": _ok("the account", "Account"),
                               "400": _fail("the body is not a JSON object"),
                               "409": _fail("the account exists"),
                               "422": _fail("a field is unknown, missing or out of range")}},
    },
    "/v1/accounts/{system_id}": {
        "parameters": [_SYSTEM_ID],
        "get": {"summary": "One account",
                "responses": {"200": _ok("the account", "Account"),
                              "404": _fail("no such account")}},
        "patch": {"summary": "Change an account (what is not given stays): new binds follow "
                             "it, live sessions take the throttle, window, source rules, "
                             "validity limits and max_pending at once",
                  "requestBody": {"required": True, "content": {JSON: {
                      "schema": {"$ref": "#/components/schemas/AccountChange"}}}},
                  "responses": {"200": _ok("the account", "Account"),
                                "400": _fail("the body is not a JSON object"),
                                "404": _fail("no such account"),
                                "422": _fail("a field is unknown or out of range")}},
        "delete": {"summary": "Delete an account: its sessions are sent unbind and closed",
                   "responses": {"200": _ok("deleted, with the number of sessions unbinding"),
                                 "404": _fail("no such account")}},
    },
}
