"""The simulation's HTTP endpoints: handsets (state, inbox), network outages, fault mixes, reset.

Thin JSON handlers over `SimulationControl` (`RunningSmsc.simulation`); their OpenAPI paths
are `SIMULATION_PATHS` below, merged into the description by `control/api.py`.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Awaitable, Callable
from typing import Any

import trio
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from smsc.config import ConfigError, FaultMixConfig, parse_section
from smsc.control.errors import (
    BadRequest,
    NotFound,
    int_param,
    json_object,
    refuse_unknown_fields,
    refuse_unknown_params,
)
from smsc.delivery.simulation import (
    HandsetView,
    NetworkView,
    SimulationChangeFailed,
    SimulationControl,
)
from smsc.simulation.inbox import InboxMessage
from smsc.store import format_message_id

NUMBER = re.compile(r"(\+|00)?[0-9]{1,20}")
HANDSET_FIELDS = {"state", "latency", "reply", "reply_text"}
FAULT_FIELDS = frozenset(f.name for f in dataclasses.fields(FaultMixConfig))


def _number(request: Request) -> str:
    number = str(request.path_params["number"])
    if not NUMBER.fullmatch(number):
        raise BadRequest("number must be digits, optionally after + or 00")
    return number


def _network(simulation: SimulationControl, request: Request) -> str:
    name = str(request.path_params["name"])
    if name not in simulation.simulation.networks:
        raise NotFound(f"no network {name!r}")
    return name


def iso_time(simulation: SimulationControl, at: float | None) -> str | None:
    """A simulation time (seconds since the SMSC started) as ISO 8601 UTC, like every other
    time the API answers with."""
    if at is None:
        return None
    return simulation.clock.wall_of(simulation.started + at).isoformat()


def handset_json(simulation: SimulationControl, view: HandsetView) -> dict[str, Any]:
    return {**dataclasses.asdict(view), "online_at": iso_time(simulation, view.online_at)}


def network_json(simulation: SimulationControl, view: NetworkView) -> dict[str, Any]:
    return {"name": view.name, "out": view.out,
            "outage_ends_at": iso_time(simulation, view.outage_ends_at),
            "waiting": view.waiting, "faults": dataclasses.asdict(view.faults)}


def inbox_json(simulation: SimulationControl, message: InboxMessage,
               id_format: str) -> dict[str, Any]:
    return {
        "source_addr": message.source_addr,
        "text": message.text,
        "data_hex": message.data.hex(),
        "data_coding": message.data_coding,
        "parts": message.parts,
        "message_ids": [format_message_id(i, id_format) for i in message.message_ids],
        "received_at": iso_time(simulation, message.received_at),
        "diagnostics": list(message.diagnostics),
    }


def _optional_number(body: dict[str, Any], key: str, *, positive: bool) -> float | None:
    value = body.get(key)
    if value is None:
        return None
    if type(value) not in (int, float) or not math.isfinite(value) or (
        value <= 0 if positive else value < 0
    ):
        raise BadRequest(f"{key} must be a {'positive' if positive else 'non-negative'} number",
                         422)
    return float(value)


def _changes(handler: Callable[[Request], Awaitable[Response]]
             ) -> Callable[[Request], Awaitable[Response]]:
    """A change the store of a cluster did not take is 503, applied nowhere."""
    async def changing(request: Request) -> Response:
        try:
            return await handler(request)
        except SimulationChangeFailed as error:
            return JSONResponse({"error": str(error)}, status_code=503)

    return changing


def simulation_routes(simulation: SimulationControl, id_format: str) -> list[Route]:
    async def list_handsets(request: Request) -> Response:
        return JSONResponse({"handsets": [
            {**handset_json(simulation, simulation.handset(number)),
             "messages": [inbox_json(simulation, m, id_format)
                          for m in simulation.inbox(number)]}
            for number in simulation.inbox_numbers()
        ]})

    async def get_handset(request: Request) -> Response:
        return JSONResponse(handset_json(simulation, simulation.handset(_number(request))))

    async def change_handset(request: Request) -> Response:
        number = _number(request)
        body = await json_object(request)
        refuse_unknown_fields(body, HANDSET_FIELDS)
        for key in ("state", "reply", "reply_text"):
            if key in body and not isinstance(body[key], str):
                raise BadRequest(f"{key} must be a string", 422)
        try:
            view = await simulation.set_handset(
                number, state=body.get("state"), reply=body.get("reply"),
                reply_text=body.get("reply_text"),
                latency=_optional_number(body, "latency", positive=False),
            )
        except ValueError as error:
            raise BadRequest(str(error), 422) from None
        return JSONResponse(handset_json(simulation, view))

    async def reset_handset(request: Request) -> Response:
        view = await simulation.reset_handset(_number(request))
        return JSONResponse(handset_json(simulation, view))

    async def read_inbox(request: Request) -> Response:
        number = _number(request)
        return JSONResponse({
            "number": simulation.handset(number).number,
            "messages": [inbox_json(simulation, m, id_format) for m in simulation.inbox(number)],
            "diagnostics": simulation.diagnostics(number),
        })

    async def clear_inbox(request: Request) -> Response:
        simulation.clear_inbox(_number(request))
        return JSONResponse({"cleared": True})

    async def list_networks(request: Request) -> Response:
        return JSONResponse({"networks": [network_json(simulation, n)
                                          for n in simulation.networks()]})

    async def get_network(request: Request) -> Response:
        view = simulation.network(_network(simulation, request))
        return JSONResponse(network_json(simulation, view))

    async def start_outage(request: Request) -> Response:
        name = _network(simulation, request)
        body = await json_object(request, empty_ok=True)
        refuse_unknown_fields(body, ("duration",))
        duration = _optional_number(body, "duration", positive=True)
        view = await simulation.start_outage(name, duration)
        return JSONResponse(network_json(simulation, view))

    async def stop_outage(request: Request) -> Response:
        name = _network(simulation, request)
        return JSONResponse(network_json(simulation, await simulation.stop_outage(name)))

    async def set_faults(request: Request) -> Response:
        name = _network(simulation, request)
        body = await json_object(request)
        refuse_unknown_fields(body, FAULT_FIELDS)
        try:
            faults = parse_section(FaultMixConfig, body, "request body")
            view = await simulation.set_faults(name, faults)
        except ConfigError as error:
            raise BadRequest(f"{error.key}: {error.problem}" if error.key else error.problem,
                             422) from None
        except ValueError as error:
            raise BadRequest(str(error), 422) from None
        return JSONResponse(network_json(simulation, view))

    async def simulation_state(request: Request) -> Response:
        refuse_unknown_params(request, ("applied", "timeout"))
        wanted = int_param(request, "applied", 0, 0, 2**63 - 1)
        timeout = int_param(request, "timeout", 10, 0, 60)
        with trio.move_on_after(timeout) as waited:
            await simulation.wait_applied(wanted)
        if waited.cancelled_caught:
            return JSONResponse({"error": f"change {wanted} not applied here within "
                                          f"{timeout} s (applied: {simulation.applied})"},
                                status_code=504)
        return JSONResponse({"seed": str(simulation.simulation.seed),
                             "shared": simulation.shared is not None,
                             "applied": simulation.applied})

    async def reset(request: Request) -> Response:
        refuse_unknown_fields(await json_object(request, empty_ok=True), ())
        await simulation.reset()
        return JSONResponse({"reset": True})

    return [
        Route("/v1/handsets", list_handsets),
        Route("/v1/handsets/{number}", get_handset),
        Route("/v1/handsets/{number}", _changes(change_handset), methods=["PATCH"]),
        Route("/v1/handsets/{number}", _changes(reset_handset), methods=["DELETE"]),
        Route("/v1/handsets/{number}/inbox", read_inbox),
        Route("/v1/handsets/{number}/inbox", clear_inbox, methods=["DELETE"]),
        Route("/v1/networks", list_networks),
        Route("/v1/networks/{name}", get_network),
        Route("/v1/networks/{name}/outage", _changes(start_outage), methods=["POST"]),
        Route("/v1/networks/{name}/outage", _changes(stop_outage), methods=["DELETE"]),
        Route("/v1/networks/{name}/faults", _changes(set_faults), methods=["PUT"]),
        Route("/v1/reset", _changes(reset), methods=["POST"]),
        Route("/v1/simulation", simulation_state),
    ]


# -- OpenAPI ------------------------------------------------------------------------------

JSON = "application/json"
_ERROR = {"$ref": "#/components/schemas/Error"}


def _ok(description: str, ref: str | None = None) -> dict[str, Any]:
    schema = {"$ref": f"#/components/schemas/{ref}"} if ref else {"type": "object"}
    return {"description": description, "content": {JSON: {"schema": schema}}}


def _fail(description: str) -> dict[str, Any]:
    return {"description": description, "content": {JSON: {"schema": _ERROR}}}


_NUMBER_PARAM = {"name": "number", "in": "path", "required": True,
                 "description": "international digits, optionally after + or 00",
                 "schema": {"type": "string", "minLength": 1, "maxLength": 22}}
_NAME_PARAM = {"name": "name", "in": "path", "required": True,
               "schema": {"type": "string", "minLength": 1, "maxLength": 40}}
_probability = {"type": "number", "minimum": 0, "maximum": 1}

SIMULATION_SCHEMAS: dict[str, Any] = {
    "Simulation": {"type": "object", "required": ["seed", "shared", "applied"], "properties": {
        "seed": {"type": "string", "description": "the seed in force (decimal: 64 bits)"},
        "shared": {"type": "boolean",
                   "description": "whether the nodes of a cluster share the simulation"},
        "applied": {"type": "integer",
                    "description": "the last shared change applied here (0 alone)"}}},
    "Handset": {"type": "object", "required": ["number", "state"], "properties": {
        "number": {"type": "string"}, "profile": {"type": "string", "nullable": True},
        "state": {"type": "string"},
        "online_at": {"type": "string", "format": "date-time", "nullable": True,
                      "description": "when a scheduled handset switches on again (ISO 8601, "
                                     "UTC), while offline"},
        "latency": {"type": "number"}, "reply": {"type": "string"},
        "reply_text": {"type": "string"}, "overridden": {"type": "boolean"},
        "waiting": {"type": "integer"}, "inbox": {"type": "integer"}}},
    "HandsetChange": {"type": "object", "additionalProperties": False, "properties": {
        "state": {"type": "string", "enum": ["online", "offline", "memory_full", "failing"]},
        "latency": {"type": "number", "minimum": 0},
        "reply": {"type": "string", "enum": ["none", "echo", "auto_reply"]},
        "reply_text": {"type": "string", "maxLength": 500}}},
    "Network": {"type": "object", "required": ["name", "out"], "properties": {
        "name": {"type": "string"}, "out": {"type": "boolean"},
        "outage_ends_at": {"type": "string", "format": "date-time", "nullable": True,
                           "description": "when the outage under way ends (ISO 8601, UTC); "
                                          "null while up or until DELETE ends it"},
        "waiting": {"type": "integer"}, "faults": {"$ref": "#/components/schemas/FaultMix"}}},
    "FaultMix": {"type": "object", "additionalProperties": False, "properties": {
        "throttled": _probability, "system_error": _probability,
        "slow_response": _probability, "no_response": _probability,
        "disconnect": _probability,
        "slow_response_delay": {"type": "number", "minimum": 0}}},
    "Outage": {"type": "object", "additionalProperties": False, "properties": {
        "duration": {"type": "number", "exclusiveMinimum": True, "minimum": 0,
                     "description": "seconds; without it the outage lasts until DELETE"}}},
}

SIMULATION_PATHS: dict[str, Any] = {
    "/v1/simulation": {"get": {
        "summary": "The seed in force and the last shared change applied on this node",
        "description": "On a PostgreSQL store every node applies the changes made on any "
                       "node, in one order (docs/cluster.md): `applied` is the number of the "
                       "last one applied here. Given `applied`, the answer waits until this "
                       "node has applied that change (up to `timeout` seconds, else 504).",
        "parameters": [
            {"name": "applied", "in": "query", "required": False,
             "schema": {"type": "integer", "minimum": 0}},
            {"name": "timeout", "in": "query", "required": False,
             "schema": {"type": "integer", "minimum": 0, "maximum": 60, "default": 10}}],
        "responses": {"200": _ok("the simulation", "Simulation"),
                      "400": _fail("bad parameter"),
                      "504": _fail("the change was not applied here in time")}}},
    "/v1/handsets": {"get": {"summary": "Handsets that received messages, with their inboxes",
                             "responses": {"200": _ok("handsets")}}},
    "/v1/handsets/{number}": {
        "parameters": [_NUMBER_PARAM],
        "get": {"summary": "A handset's state",
                "responses": {"200": _ok("the handset", "Handset"), "400": _fail("bad number")}},
        "patch": {"summary": "Change a handset at runtime (what is not given stays)",
                  "requestBody": {"required": True, "content": {JSON: {
                      "schema": {"$ref": "#/components/schemas/HandsetChange"}}}},
                  "responses": {"200": _ok("the handset", "Handset"),
                                "400": _fail("bad number or body"),
                                "422": _fail("bad state, reply or latency")}},
        "delete": {"summary": "Drop the runtime override: the configured profile applies",
                   "responses": {"200": _ok("the handset", "Handset"),
                                 "400": _fail("bad number")}},
    },
    "/v1/handsets/{number}/inbox": {
        "parameters": [_NUMBER_PARAM],
        "get": {"summary": "Messages the handset received (reassembled, decoded), oldest first",
                "responses": {"200": _ok("the inbox"), "400": _fail("bad number")}},
        "delete": {"summary": "Empty the handset's inbox",
                   "responses": {"200": _ok("cleared"), "400": _fail("bad number")}},
    },
    "/v1/networks": {"get": {"summary": "Networks, outages and fault mixes",
                             "responses": {"200": _ok("networks")}}},
    "/v1/networks/{name}": {
        "parameters": [_NAME_PARAM],
        "get": {"summary": "One network", "responses": {
            "200": _ok("the network", "Network"), "404": _fail("no such network")}},
    },
    "/v1/networks/{name}/outage": {
        "parameters": [_NAME_PARAM],
        "post": {"summary": "Start an outage: attempts fail temporarily and wait",
                 "requestBody": {"required": False, "content": {JSON: {
                     "schema": {"$ref": "#/components/schemas/Outage"}}}},
                 "responses": {"200": _ok("the network", "Network"),
                               "404": _fail("no such network"),
                               "422": _fail("bad duration")}},
        "delete": {"summary": "End a runtime outage; waiting messages go out at once",
                   "responses": {"200": _ok("the network", "Network"),
                                 "404": _fail("no such network")}},
    },
    "/v1/networks/{name}/faults": {
        "parameters": [_NAME_PARAM],
        "put": {"summary": "Replace the network's submit-time fault mix ({} for none)",
                "requestBody": {"required": True, "content": {JSON: {
                    "schema": {"$ref": "#/components/schemas/FaultMix"}}}},
                "responses": {"200": _ok("the network", "Network"),
                              "404": _fail("no such network"),
                              "422": _fail("probabilities outside 0..1 or above 1 in sum")}},
    },
    "/v1/reset": {"post": {
        "summary": "Back to the configuration: handset overrides, outages, fault mixes, "
                   "inboxes and fates (as at start)",
        "requestBody": {"required": False, "content": {JSON: {"schema": {
            "type": "object", "additionalProperties": False, "maxProperties": 0,
            "description": "no body, or {}: reset takes no options"}}}},
        "responses": {"200": _ok("reset"), "400": _fail("the body is not a JSON object"),
                      "422": _fail("the body has fields")}}},
}
