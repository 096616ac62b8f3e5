"""The distribution lists' HTTP endpoints, under an account:

    GET    /v1/accounts/{system_id}/distribution-lists          every list of the account
    GET    /v1/accounts/{system_id}/distribution-lists/{name}   one list
    PUT    /v1/accounts/{system_id}/distribution-lists/{name}   create (201) or replace (200)
    DELETE /v1/accounts/{system_id}/distribution-lists/{name}   remove (204)

Thin JSON handlers over `DistributionLists`; their OpenAPI paths are `LIST_PATHS` below,
merged into the description by `control/api.py`. Changes last until the process ends.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from smsc.control.errors import BadRequest, NotFound, json_object, refuse_unknown_fields
from smsc.distribution_lists import (
    MAX_ADDRESS,
    MAX_MEMBERS,
    MAX_NAME,
    DistributionList,
    DistributionLists,
    Member,
    check_list,
)

BASE = "/v1/accounts/{system_id}/distribution-lists"
LIST_FIELDS = ("members", "dest_addr_ton", "dest_addr_npi")


def list_json(dl: DistributionList) -> dict[str, Any]:
    return {"name": dl.name, "members": [
        {"address": m.address, "ton": m.ton, "npi": m.npi} for m in dl.members]}


def list_request(name: str, body: dict[str, Any]) -> DistributionList:
    """The list a PUT body describes: members as addresses, one TON/NPI for them all."""
    refuse_unknown_fields(body, LIST_FIELDS)
    members = body.get("members")
    if not isinstance(members, list) or not all(isinstance(m, str) for m in members):
        raise BadRequest("members must be an array of addresses", 422)
    ton, npi = body.get("dest_addr_ton", 1), body.get("dest_addr_npi", 1)
    if type(ton) is not int or type(npi) is not int:
        raise BadRequest("dest_addr_ton and dest_addr_npi must be integers", 422)
    problems = check_list(name, [(ton, npi, m) for m in members])
    if problems:
        raise BadRequest(problems[0], 422)
    return DistributionList(name, tuple(Member(ton, npi, m) for m in members))


def distribution_list_routes(lists: DistributionLists,
                             accounts: Callable[[], Collection[str]]) -> list[Route]:
    """The routes over `lists`; `accounts()` are the system_ids that may have lists now
    (accounts come and go at runtime)."""

    def account(request: Request) -> str:
        system_id = str(request.path_params["system_id"])
        if system_id not in accounts():
            raise NotFound(f"no account {system_id!r}")
        return system_id

    def named(request: Request, system_id: str) -> DistributionList:
        name = str(request.path_params["name"])
        dl = lists.get(system_id, name)
        if dl is None:
            raise NotFound(f"no distribution list {name!r}")
        return dl

    async def list_all(request: Request) -> Response:
        system_id = account(request)
        return JSONResponse({"distribution_lists": [list_json(d) for d in lists.of(system_id)]})

    async def read_one(request: Request) -> Response:
        return JSONResponse(list_json(named(request, account(request))))

    async def put_one(request: Request) -> Response:
        system_id = account(request)
        dl = list_request(str(request.path_params["name"]), await json_object(request))
        created = lists.put(system_id, dl)
        return JSONResponse(list_json(dl), status_code=201 if created else 200)

    async def delete_one(request: Request) -> Response:
        system_id = account(request)
        lists.delete(system_id, named(request, system_id).name)
        return Response(status_code=204)

    return [
        Route(BASE, list_all),
        Route(BASE + "/{name}", read_one),
        Route(BASE + "/{name}", put_one, methods=["PUT"]),
        Route(BASE + "/{name}", delete_one, methods=["DELETE"]),
    ]


JSON = "application/json"
_ERROR = {"$ref": "#/components/schemas/Error"}
_LIST = {"$ref": "#/components/schemas/DistributionList"}
_PARAMETERS = [
    {"name": "system_id", "in": "path", "required": True,
     "schema": {"type": "string", "minLength": 1, "maxLength": 15}},
]
_NAME = {"name": "name", "in": "path", "required": True,
         "schema": {"type": "string", "minLength": 1, "maxLength": MAX_NAME}}


def _answer(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {JSON: {"schema": schema}}}


LIST_SCHEMAS: dict[str, Any] = {
    "DistributionList": {
        "type": "object", "required": ["name", "members"],
        "properties": {
            "name": {"type": "string"},
            "members": {"type": "array", "items": {
                "type": "object", "required": ["address", "ton", "npi"],
                "properties": {"address": {"type": "string"}, "ton": {"type": "integer"},
                               "npi": {"type": "integer"}}}}}},
    "DistributionListBody": {
        "type": "object", "additionalProperties": False, "required": ["members"],
        "properties": {
            "members": {"type": "array", "minItems": 1, "maxItems": MAX_MEMBERS,
                        "items": {"type": "string", "minLength": 1,
                                  "maxLength": MAX_ADDRESS}},
            "dest_addr_ton": {"type": "integer", "minimum": 0, "maximum": 255},
            "dest_addr_npi": {"type": "integer", "minimum": 0, "maximum": 255}}},
}

_NOT_FOUND = _answer("no such account or list", _ERROR)
LIST_PATHS: dict[str, Any] = {
    BASE: {
        "parameters": _PARAMETERS,
        "get": {"summary": "The account's distribution lists",
                "responses": {"200": _answer("the lists, by name", {
                    "type": "object", "required": ["distribution_lists"],
                    "properties": {"distribution_lists": {"type": "array", "items": _LIST}}}),
                    "404": _NOT_FOUND}}},
    BASE + "/{name}": {
        "parameters": [*_PARAMETERS, _NAME],
        "get": {"summary": "One distribution list",
                "responses": {"200": _answer("the list", _LIST), "404": _NOT_FOUND}},
        "put": {"summary": "Create or replace a distribution list (until the process ends)",
                "requestBody": {"required": True, "content": {JSON: {
                    "schema": {"$ref": "#/components/schemas/DistributionListBody"}}}},
                "responses": {
                    "200": _answer("replaced", _LIST), "201": _answer("created", _LIST),
                    "400": _answer("the body is not a JSON object", _ERROR),
                    "404": _NOT_FOUND,
                    "413": _answer("the body is too large", _ERROR),
                    "422": _answer("an unknown field, a bad name or member", _ERROR)}},
        "delete": {"summary": "Remove a distribution list",
                   "responses": {"204": {"description": "removed"}, "404": _NOT_FOUND}}},
}
