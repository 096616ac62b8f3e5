"""Typed codec errors: each carries the command_status the peer must be answered with."""

from __future__ import annotations

from smsc.pdu.constants import CommandStatus


class PduError(Exception):
    """Base of every codec error."""


class DecodeError(PduError):
    """Bytes from a peer that are not a valid PDU.

    `command_status` is the SMPP status to answer with; `command_id` and
    `sequence_number` are set when the header could be read, so the answer can be the
    request's own response (REFERENCE.md §12.5) rather than a generic_nack.
    """

    def __init__(
        self,
        command_status: int,
        message: str,
        *,
        command_id: int | None = None,
        sequence_number: int | None = None,
    ) -> None:
        super().__init__(message)
        self.command_status = int(command_status)
        self.command_id = command_id
        self.sequence_number = sequence_number

    @property
    def status(self) -> CommandStatus | int:
        try:
            return CommandStatus(self.command_status)
        except ValueError:
            return self.command_status

    def __repr__(self) -> str:
        return (
            f"DecodeError({self.status!r}, {self.args[0]!r}, command_id={self.command_id!r}, "
            f"sequence_number={self.sequence_number!r})"
        )


class EncodeError(PduError):
    """A PDU object we were asked to encode breaks a layout rule (our own bug or bad input)."""
