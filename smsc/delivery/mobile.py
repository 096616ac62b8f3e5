"""Mobile-originated traffic: a handset's message to a short code or long number, stored and
delivered to the account that owns that address as deliver_sm (waiting while it is unbound).

Texts go in GSM 03.38, Latin-1 or UCS2 and binary data as it is; long ones are split into
8- or 16-bit UDH parts or SAR-tagged parts, or travel whole (in message_payload when they
need it). `run_mo_traffic` plays the configured `[[mo_traffic]]` streams on the clock.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Sequence

import trio

from smsc.accounts import MoAddresses
from smsc.clock import Clock
from smsc.config import AccountConfig, MoTrafficConfig
from smsc.delivery.committer import Committer
from smsc.pdu.concat import Part, Scheme, split_binary, split_text
from smsc.pdu.constants import DataCoding, EsmFeature, Tag
from smsc.pdu.text import choose_encoding
from smsc.pdu.tlv import encode_tlvs
from smsc.store import AcceptRefused, Direction, NewMessage

log = logging.getLogger("smsc.mobile")
ENCODINGS: dict[str, int] = {
    "gsm": DataCoding.SMSC_DEFAULT,
    "latin1": DataCoding.LATIN_1,
    "ucs2": DataCoding.UCS2,
    "binary": DataCoding.OCTET_UNSPECIFIED_2,
}
"""Encoding names of the config and the API → data_coding."""


class NoRoute(LookupError):
    """No account claims the destination address."""


class StoreFailed(RuntimeError):
    """The store refused or failed to keep an MO message."""


class MobileOriginator:
    def __init__(self, *, accounts: Sequence[AccountConfig], committer: Committer,
                 clock: Clock) -> None:
        self.addresses = MoAddresses(accounts)
        """Which account each destination reaches (the first pattern that matches decides);
        `use_accounts` swaps in another."""
        self.committer = committer
        self.clock = clock
        self._references = itertools.count(1)

    def use_accounts(self, accounts: Sequence[AccountConfig]) -> None:
        """Route from now on by these accounts' mo_addresses (accounts changed at run time)."""
        self.addresses = MoAddresses(accounts)

    def account_for(self, destination_addr: str) -> str:
        system_id = self.addresses.owner(destination_addr)
        if system_id is None:
            raise NoRoute(destination_addr)
        return system_id

    async def send_text(
        self, source_addr: str, destination_addr: str, text: str, *,
        encoding: str = "auto", data_coding: int | None = None,
        scheme: Scheme | str = Scheme.UDH8, source_addr_ton: int = 1, source_addr_npi: int = 1,
        dest_addr_ton: int = 0, dest_addr_npi: int = 0, system_id: str | None = None,
    ) -> list[int]:
        """Store a handset's text, split when long; returns the message ids (one per part).

        `encoding`: "auto" (GSM 03.38 when the text fits, else UCS2), "gsm", "latin1" or
        "ucs2"; `data_coding` forces a data_coding value instead. `scheme`: udh8, udh16, sar
        or payload. `system_id` names the receiving account directly (a handset's reply goes
        to the account that wrote to it); otherwise the accounts' mo_addresses decide.

        Raises:
            NoRoute: no account owns `destination_addr`.
            TextError: the text does not fit the encoding.
            StoreFailed: the store did not keep it.
        """
        if system_id is None:
            system_id = self.account_for(destination_addr)
        if data_coding is None:
            data_coding = (choose_encoding(text)[0] if encoding == "auto"
                           else ENCODINGS[encoding])
        scheme = Scheme(scheme)
        parts = split_text(text, data_coding, scheme=scheme, reference=self._reference(scheme))
        return await self._store(system_id, parts, data_coding, source_addr, destination_addr,
                                 (source_addr_ton, source_addr_npi, dest_addr_ton,
                                  dest_addr_npi))

    async def send_binary(
        self, source_addr: str, destination_addr: str, data: bytes, *,
        data_coding: int = DataCoding.OCTET_UNSPECIFIED_2, scheme: Scheme | str = Scheme.UDH8,
        source_addr_ton: int = 1, source_addr_npi: int = 1, dest_addr_ton: int = 0,
        dest_addr_npi: int = 0,
    ) -> list[int]:
        """Store a handset's binary message (split at 140 octets a part); returns the ids.

        Raises:
            NoRoute: no account owns `destination_addr`.
            StoreFailed: the store did not keep it.
        """
        system_id = self.account_for(destination_addr)
        scheme = Scheme(scheme)
        parts = split_binary(data, scheme=scheme, reference=self._reference(scheme))
        return await self._store(system_id, parts, data_coding, source_addr, destination_addr,
                                 (source_addr_ton, source_addr_npi, dest_addr_ton,
                                  dest_addr_npi))

    def _reference(self, scheme: Scheme) -> int:
        mask = 0xFF if scheme is Scheme.UDH8 else 0xFFFF
        return (next(self._references) - 1) % mask + 1

    async def _store(self, system_id: str, parts: list[Part], data_coding: int,
                     source_addr: str, destination_addr: str,
                     numbering: tuple[int, int, int, int]) -> list[int]:
        now = self.clock.wall()
        source_ton, source_npi, dest_ton, dest_npi = numbering
        messages = [
            NewMessage(
                system_id=system_id, direction=Direction.MO, destination_addr=destination_addr,
                source_addr=source_addr, source_addr_ton=source_ton, source_addr_npi=source_npi,
                dest_addr_ton=dest_ton, dest_addr_npi=dest_npi, payload=part.user_data,
                data_coding=data_coding, esm_class=EsmFeature.UDHI if part.udhi else 0,
                submitted_at=now, extra=_sar_tlvs(part),
            )
            for part in parts
        ]
        results: list[int | AcceptRefused | None] = []
        done = trio.Event()

        def collect(result: int | AcceptRefused | None) -> None:
            results.append(result)
            if len(results) == len(messages):
                done.set()

        for message in messages:
            self.committer.accept(message, collect)
        await done.wait()
        ids = [r for r in results if isinstance(r, int)]
        if len(ids) != len(messages):
            raise StoreFailed(f"{len(messages) - len(ids)} of {len(messages)} parts not stored")
        return ids


def _sar_tlvs(part: Part) -> bytes:
    if part.sar is None:
        return b""
    return encode_tlvs({Tag.sar_msg_ref_num: part.sar.reference,
                        Tag.sar_total_segments: part.sar.total,
                        Tag.sar_segment_seqnum: part.sar.seqnum})


async def run_mo_traffic(stream: MoTrafficConfig, mobile: MobileOriginator, clock: Clock,
                         *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
                         ) -> None:
    """Send one configured stream: message n at start_after + (n - 1) / rate seconds, the
    handsets and templates taken in turn, until `count` messages (forever when 0)."""
    task_status.started()
    started = clock.simulated() + stream.start_after  # simulated time: advance plays it
    interval = 1.0 / stream.rate
    for n in itertools.count(1):
        if stream.count and n > stream.count:
            return
        await clock.sleep_until(started + (n - 1) * interval)
        source = stream.sources[(n - 1) % len(stream.sources)]
        template = stream.texts[(n - 1) % len(stream.texts)]
        text = template.format(n=n, source=source, destination=stream.destination,
                               time=clock.wall().strftime("%H:%M:%S"))
        try:
            if stream.encoding == "binary":
                await mobile.send_binary(source, stream.destination, bytes.fromhex(text),
                                         scheme=stream.scheme)
            else:
                await mobile.send_text(source, stream.destination, text,
                                       encoding=stream.encoding, scheme=stream.scheme)
        except (LookupError, ValueError, StoreFailed) as error:
            log.warning("MO traffic to %s: message %d not sent: %s", stream.destination, n,
                        error)
