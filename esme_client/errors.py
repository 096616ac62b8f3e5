"""Typed errors of the ESME client; every refusal from the SMSC carries its SMPP status."""

from __future__ import annotations

from smsc.pdu import CommandId, CommandStatus, Pdu


def status_name(status: int) -> str:
    """`ESME_RINVPASWD` for 0x0E; the hex value for statuses SMPP 3.4 does not name."""
    try:
        return CommandStatus(status).name
    except ValueError:
        return f"0x{status:08X}"


class SmppError(Exception):
    """Base of every error the client raises."""

    status: int | None = None


class SmppStatusError(SmppError):
    """The SMSC answered a request with a non-zero command_status."""

    def __init__(self, status: int, request: Pdu, response: Pdu | None = None) -> None:
        self.status = status
        self.request = request
        self.response = response
        self.command = CommandId(request.command_id).name
        super().__init__(f"{self.command} refused: {status_name(status)} (0x{status:08X})")

    @property
    def status_name(self) -> str:
        return status_name(self.status or 0)

    @property
    def temporary(self) -> bool:
        """Whether the status means "try again later" (throttled, queue full, system error)."""
        return self.status in (
            CommandStatus.ESME_RSYSERR,
            CommandStatus.ESME_RMSGQFUL,
            CommandStatus.ESME_RTHROTTLED,
            CommandStatus.ESME_RX_T_APPN,
        )


class BindError(SmppStatusError):
    """The SMSC refused the bind (wrong password, unknown system_id, bind limit...)."""


class GenericNackError(SmppStatusError):
    """The SMSC answered with generic_nack: it could not read the request's header."""


class ConnectionLost(SmppError):
    """The connection closed before the request was answered (or while not bound)."""


class ConnectError(SmppError):
    """The TCP or TLS connection could not be opened."""


class ResponseTimeout(SmppError):
    """No response within the response timer."""

    def __init__(self, request: Pdu) -> None:
        self.request = request
        super().__init__(f"{CommandId(request.command_id).name} got no response in time")


class EncodingError(SmppError):
    """The text cannot be carried in the requested data_coding, or is too long to split."""

    status = CommandStatus.ESME_RINVMSGLEN
