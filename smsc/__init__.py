"""An SMPP 3.4 SMSC simulator on trio (see README.md); `MessageState` is the message and
receipt state that the embedding helpers and esme_client both report."""

from smsc.pdu.constants import MessageState

__all__ = ["MessageState"]
