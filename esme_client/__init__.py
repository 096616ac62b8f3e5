"""The ESME side: an SMPP 3.4 and 5.0 client library on trio, the `esme` command and a load
generator."""

from esme_client.client import ClientConfig, EsmeClient, ReceiptTimeout, check, connect
from esme_client.errors import (
    BindError,
    ConnectError,
    ConnectionLost,
    EncodingError,
    GenericNackError,
    ResponseTimeout,
    SmppError,
    SmppStatusError,
)
from esme_client.results import (
    BroadcastQueryResult,
    BroadcastResult,
    Delivery,
    QueryResult,
    Receipt,
    SubmitMultiResult,
    SubmitResult,
)
from smsc.pdu.constants import MessageState

__all__ = [
    "BindError",
    "BroadcastQueryResult",
    "BroadcastResult",
    "ClientConfig",
    "ConnectError",
    "ConnectionLost",
    "Delivery",
    "EncodingError",
    "EsmeClient",
    "GenericNackError",
    "MessageState",
    "QueryResult",
    "Receipt",
    "ReceiptTimeout",
    "ResponseTimeout",
    "SmppError",
    "SmppStatusError",
    "SubmitMultiResult",
    "SubmitResult",
    "check",
    "connect",
]
