"""The OpenAPI 3.0 description of the control API, served at /openapi.json.

Written out by hand beside the handlers in `control/api.py` (one place to read what the API
accepts); tests/control/test_openapi.py runs schemathesis against it over real HTTP.
"""

from __future__ import annotations

from typing import Any

from smsc.pdu.constants import MessageState

JSON = "application/json"
ERROR = {"$ref": "#/components/schemas/Error"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {JSON: {"schema": schema}}}


def _error(description: str) -> dict[str, Any]:
    return _json(ERROR, description)


SESSION_ID = {"name": "session_id", "in": "path", "required": True,
              "schema": {"type": "integer", "minimum": 0}}
MESSAGE_ID = {"name": "message_id", "in": "path", "required": True,
              "schema": {"type": "string", "minLength": 1, "maxLength": 20}}
NULLABLE_STRING = {"type": "string", "nullable": True}

SCHEMAS: dict[str, Any] = {
    "Error": {"type": "object", "required": ["error"],
              "properties": {"error": {"type": "string"}}},
    "Session": {
        "type": "object",
        "required": ["id", "peer", "state", "window", "in_flight"],
        "properties": {
            "id": {"type": "integer"},
            "peer": {"type": "string", "description": "host:port of the ESME"},
            "system_id": NULLABLE_STRING,
            "bind_type": {"type": "string", "nullable": True,
                          "enum": ["transmitter", "receiver", "transceiver", None]},
            "state": {"type": "string"},
            "window": {"type": "integer"},
            "in_flight": {"type": "integer", "nullable": True,
                          "description": "PDUs sent by the SMSC awaiting a response (null "
                                         "for another node's session)"},
            "node": {"type": "object", "description": "on a PostgreSQL store only: the "
                     "node the session is bound on (docs/cluster.md)",
                     "properties": {"id": {"type": "integer"}, "name": {"type": "string"}}},
            "bound_since": {"type": "string", "format": "date-time", "nullable": True,
                            "description": "on a PostgreSQL store only: when it bound"},
        },
    },
    "Message": {
        "type": "object",
        "required": ["id", "account", "direction", "state"],
        "properties": {
            "id": {"type": "string"},
            "submit_id": {"type": "string",
                          "description": "the id the ESME was given: the message's own, or "
                                         "for a submit_multi destination the submit's"},
            "account": {"type": "string"},
            "direction": {"type": "string", "enum": ["mt", "mo"]},
            "source_addr": {"type": "string"},
            "destination_addr": {"type": "string"},
            "state": {"type": "string", "enum": [s.name for s in MessageState]},
            "network": NULLABLE_STRING,
            "data_coding": {"type": "integer"},
            "text": NULLABLE_STRING,
            "payload_hex": {"type": "string"},
            "registered_delivery": {"type": "integer"},
            "attempts": {"type": "integer"},
            "submitted_at": NULLABLE_STRING,
            "final_at": NULLABLE_STRING,
            "next_attempt_at": NULLABLE_STRING,
            "expires_at": NULLABLE_STRING,
            "network_error_code": {"type": "integer", "nullable": True},
        },
    },
    "MoRequest": {
        "type": "object",
        "required": ["source_addr", "destination_addr", "text"],
        "additionalProperties": False,
        "properties": {
            "source_addr": {"type": "string", "minLength": 1, "maxLength": 20,
                            "description": "the handset's number"},
            "destination_addr": {"type": "string", "minLength": 1, "maxLength": 20,
                                 "description": "a short code or long number an account's "
                                                "mo_addresses claim"},
            "text": {"type": "string", "maxLength": 5000,
                     "description": "split into concatenated parts (8-bit UDH) when long"},
            "data_coding": {"type": "integer", "enum": [0, 1, 3, 8],
                            "description": "force GSM 7-bit (0), IA5 (1), Latin-1 (3) or "
                                           "UCS2 (8); default: the smallest that fits"},
        },
    },
}


def _paths() -> dict[str, Any]:
    not_found = _error("no such session or message")
    bad = _error("a parameter is malformed")
    return {
        "/": {"get": {"summary": "The live dashboard (HTML)", "security": [],
                      "responses": {"200": {"description": "the page",
                                            "content": {"text/html": {}}}}}},
        "/openapi.json": {"get": {"summary": "This description",
                                  "responses": {"200": _json({"type": "object"}, "OpenAPI")}}},
        "/metrics": {"get": {"summary": "Prometheus metrics (text exposition format, or "
                                        "OpenMetrics when Accept asks for "
                                        "application/openmetrics-text); docs/metrics.md",
                             "responses": {"200": {"description": "metrics", "content": {
                                 "text/plain": {}, "application/openmetrics-text": {}}}}}},
        "/v1/status": {"get": {"summary": "Ports, store, uptime and sessions",
                               "responses": {"200": _json({"type": "object"}, "status")}}},
        "/v1/overview": {"get": {
            "summary": "What the dashboard shows: totals, the last minutes' history, the "
                       "queue (messages not yet final), finished messages kept, deliveries "
                       "owed per account, sessions, recent messages",
            "responses": {"200": _json({"type": "object"}, "overview")}}},
        "/v1/sessions": {"get": {
            "summary": "Connected sessions (on a PostgreSQL store, every node's bound ones)",
            "responses": {"200": _json({"type": "object", "properties": {"sessions": {
                "type": "array", "items": {"$ref": "#/components/schemas/Session"}}}},
                "sessions")}}},
        "/v1/sessions/{session_id}": {
            "parameters": [SESSION_ID],
            "get": {"summary": "One session",
                    "responses": {"200": _json({"$ref": "#/components/schemas/Session"},
                                               "the session"), "404": not_found}},
            "delete": {"summary": "Drop the connection at once (no unbind)",
                       "responses": {"200": _json({"type": "object"}, "dropped"),
                                     "404": not_found}},
        },
        "/v1/sessions/{session_id}/unbind": {
            "parameters": [SESSION_ID],
            "post": {"summary": "Send unbind; the connection closes when the ESME answers",
                     "responses": {"202": _json({"type": "object"}, "unbind sent"),
                                   "404": not_found}},
        },
        "/v1/messages": {"get": {
            "summary": "Messages, newest first; every filter given must match",
            "parameters": [
                {"name": "id", "in": "query", "schema": {"type": "string"}},
                {"name": "account", "in": "query", "schema": {"type": "string"},
                 "description": "system_id"},
                {"name": "number", "in": "query", "schema": {"type": "string"},
                 "description": "source or destination address; +4477…, 004477… and 4477… "
                                "are one number"},
                {"name": "state", "in": "query",
                 "schema": {"type": "string", "enum": [s.name for s in MessageState]}},
                {"name": "limit", "in": "query",
                 "schema": {"type": "integer", "minimum": 1, "maximum": 1000}},
            ],
            "responses": {"200": _json({"type": "object", "properties": {"messages": {
                "type": "array", "items": {"$ref": "#/components/schemas/Message"}}}},
                "messages"), "400": bad}}},
        "/v1/messages/{message_id}": {
            "parameters": [MESSAGE_ID],
            "get": {"summary": "One message by its id (as sent in submit_sm_resp)",
                    "responses": {"200": _json({"$ref": "#/components/schemas/Message"},
                                               "the message"), "404": not_found}},
        },
        "/v1/mo": {"post": {
            "summary": "Inject a mobile-originated message from a handset",
            "requestBody": {"required": True, "content": {JSON: {
                "schema": {"$ref": "#/components/schemas/MoRequest"}}}},
            "responses": {
                "201": _json({"type": "object", "properties": {"message_ids": {
                    "type": "array", "items": {"type": "string"}}}}, "stored, one id a part"),
                "400": bad,
                "422": _error("no account receives this address, or the text does not fit "
                              "the data_coding"),
            }}},
    }


def openapi_document(extra_paths: dict[str, Any] | None = None,
                     extra_schemas: dict[str, Any] | None = None) -> dict[str, Any]:
    """The whole description; the extras add the simulation's endpoints when present."""
    return {
        "openapi": "3.0.3",
        "info": {"title": "SMSC simulator control API", "version": "1"},
        "paths": {**_paths(), **(extra_paths or {})},
        "components": {
            "schemas": {**SCHEMAS, **(extra_schemas or {})},
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}, {}],
    }
