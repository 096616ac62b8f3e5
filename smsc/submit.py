"""What an accepted submit stores (pure): submit_sm, data_sm and submit_multi prepared alike.

`SubmitPreparation.prepare` takes a bound account, the request and the time it was received
(the read chunk's monotonic reading and its wall time, passed in) and either returns the
`NewMessage` to store or raises `Rejected` with the SMPP status: SMPP's field rules, the
destination's checks and route, the schedule and validity times, the account's token bucket,
in that order. A submit_multi goes through the same method for each destination
(`prepare_multi`), so the three commands cannot drift apart. The shell (`SmscService`) only
finds the account and the time, calls it, hands the result to the store and answers;
simulated submit faults, which decide how the answer goes (refused, late, missing, the
connection dropped), stay with it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from smsc.accounts import Account, MoAddresses
from smsc.config import ESME_NETWORK, NO_NETWORK, AccountConfig, StoreConfig
from smsc.constructors import constructor
from smsc.distribution_lists import MAX_MEMBERS, DistributionLists
from smsc.pdu import DataSm, SmeDest, SubmitMulti, SubmitSm, UnsuccessSme
from smsc.pdu.constants import (
    ESM_MODE_MASK,
    ESM_TYPE_MASK,
    CommandStatus,
    DataCoding,
    EsmFeature,
    EsmMode,
    EsmType,
    Tag,
)
from smsc.pdu.smpp_time import SmppTimeError, parse_smpp_time
from smsc.pdu.tlv import encode_tlvs
from smsc.routing.table import RoutingTable
from smsc.store.models import Direction, NewMessage

S = CommandStatus
MAX_TON = 6
SEGMENT_TAGS = (Tag.sar_msg_ref_num, Tag.sar_total_segments, Tag.sar_segment_seqnum,
                Tag.set_dpf, Tag.user_message_reference)
"""Segment info, set_dpf and the ESME's own reference, kept with a message (as encoded TLVs
in its `extra`); receipts and SME acknowledgements give user_message_reference back."""
UDHI = int(EsmFeature.UDHI)
"""As a plain int: `int & IntFlag` builds a flag object each time."""
SUBMIT_ESM_TYPES = frozenset({EsmType.NORMAL, EsmType.DELIVERY_ACK, EsmType.MANUAL_ACK})
"""Message types an ESME may submit (SPEC 5.2.12: receipts only flow SMSC → ESME)."""
# Enum members as module constants (docs/architecture.md, "Hot-path idioms").
_PAYLOAD = Tag.message_payload
_MT = Direction.MT
_UCS2 = DataCoding.UCS2
_FORWARD = EsmMode.FORWARD
_THROTTLED = S.ESME_RTHROTTLED
_EPOCH = datetime.fromtimestamp(0, UTC)

_bare = object.__new__


class Rejected(Exception):
    """A request that must be answered with `status` (no message is stored)."""

    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


class DestinationRejected(Rejected):
    """One destination refused (its number or its route): a submit_multi lists it in
    unsuccess_sme and goes on with the others."""


class EveryDestinationRejected(Rejected):
    """A submit_multi none of whose destinations takes the message: ESME_RSUBMITFAIL (or
    ESME_RINVDLNAME when all it named were lists the account lacks), with each
    destination's refusal."""

    def __init__(self, unsuccess: list[UnsuccessSme]) -> None:
        only_lists = bool(unsuccess) and all(
            u.error_status_code == S.ESME_RINVDLNAME for u in unsuccess)
        super().__init__(S.ESME_RINVDLNAME if only_lists else S.ESME_RSUBMITFAIL)
        self.unsuccess = unsuccess


@dataclass(slots=True)
class Times:
    expires_at: datetime
    schedule_at: datetime | None
    submitted_at: datetime
    """The wall time the submit was resolved at (its submit date)."""


_make_times = constructor(Times)


@dataclass(slots=True)
class PreparedMulti:
    """A submit_multi's messages, one for each destination that took it, and the others."""

    accepted: list[tuple[SmeDest, NewMessage]]
    unsuccess: list[UnsuccessSme]


def resolve_times(
    schedule: str, validity: str, now: datetime, *, default_validity: float, max_validity: float
) -> Times:
    """Absolute schedule and expiry for a submit (REFERENCE.md §9).

    Raises:
        Rejected: ESME_RINVSCHED / ESME_RINVEXPIRY for malformed or impossible times.
    """
    try:
        schedule_at = parse_smpp_time(schedule, now)
    except SmppTimeError:
        raise Rejected(S.ESME_RINVSCHED) from None
    try:
        expires_at = parse_smpp_time(validity, now)
    except SmppTimeError:
        raise Rejected(S.ESME_RINVEXPIRY) from None
    start = max(schedule_at or now, now)
    if expires_at is None:
        expires_at = start + timedelta(seconds=default_validity)
    if expires_at <= now:
        raise Rejected(S.ESME_RINVEXPIRY)
    if schedule_at is not None and schedule_at >= expires_at:
        raise Rejected(S.ESME_RINVSCHED)
    return Times(min(expires_at, start + timedelta(seconds=max_validity)), schedule_at, now)


def check_message_fields(message: SubmitSm | SubmitMulti | DataSm, account: Account) -> None:
    """SMPP field rules shared by submit_sm, submit_multi and data_sm.

    Raises:
        Rejected: with the status SPEC 5.1.3 names for the first rule broken.
    """
    esm = message.esm_class
    if (esm & ESM_TYPE_MASK) not in SUBMIT_ESM_TYPES or esm & 0x80 or (
        (esm & ESM_MODE_MASK) == _FORWARD and not isinstance(message, DataSm)
    ):
        raise Rejected(S.ESME_RINVESMCLASS)
    if message.registered_delivery & 0xE0:
        raise Rejected(S.ESME_RINVREGDLVFLG)
    if message.source_addr_ton > MAX_TON:
        raise Rejected(S.ESME_RINVSRCTON)
    if account.source_patterns and not account.source_allowed(message.source_addr):
        raise Rejected(S.ESME_RINVSRCADR)
    tlvs = message.tlvs
    payload = tlvs.get(_PAYLOAD) if tlvs else None
    if isinstance(message, DataSm):  # no priority, canned message, short_message or replace
        user_data = payload or b""
    else:
        if message.priority_flag > 3:
            raise Rejected(S.ESME_RINVPRTFLG)
        if message.sm_default_msg_id:
            raise Rejected(S.ESME_RINVDFTMSGID)  # no canned messages are configured
        if message.short_message and payload is not None:
            raise Rejected(S.ESME_RINVMSGLEN)  # SPEC 3.2.3: one or the other
        if message.replace_if_present_flag > 1:
            raise Rejected(S.ESME_RINVREPFLAG)
        user_data = payload or message.short_message
    if esm & UDHI or message.data_coding == _UCS2:
        check_user_data(esm, message.data_coding, user_data)


def check_user_data(esm_class: int, data_coding: int, user_data: bytes) -> None:
    """Lengths that cannot be right: a UDH longer than the data, half a UCS2 character.

    Raises:
        Rejected: ESME_RINVESMCLASS for a broken UDH, ESME_RINVMSGLEN for odd UCS2.
    """
    text = user_data
    if esm_class & UDHI:
        if not user_data or user_data[0] + 1 > len(user_data):
            raise Rejected(S.ESME_RINVESMCLASS)  # UDHI set but no whole UDH (REFERENCE §11.5)
        text = user_data[user_data[0] + 1 :]
    if data_coding == DataCoding.UCS2 and len(text) % 2:
        raise Rejected(S.ESME_RINVMSGLEN)


def check_destination(ton: int, address: str) -> None:
    """Raises:
        DestinationRejected: ESME_RINVDSTTON or ESME_RINVDSTADR (an empty address).
    """
    if ton > MAX_TON:
        raise DestinationRejected(S.ESME_RINVDSTTON)
    if not address:
        raise DestinationRejected(S.ESME_RINVDSTADR)


def throttle(account: Account, received: float) -> None:
    """Spend a token of the account's bucket on a submit received at `received` (monotonic).

    Raises:
        Rejected: ESME_RTHROTTLED when the bucket is empty.
    """
    bucket = account.bucket
    if bucket.rate and not bucket.take(received):
        raise Rejected(_THROTTLED)


def segment_info(tlvs: Mapping[int, Any]) -> bytes:
    """The TLVs of SEGMENT_TAGS a submit carries, encoded for the message's `extra`."""
    return encode_tlvs({tag: tlvs[tag] for tag in SEGMENT_TAGS if tag in tlvs})


class SubmitPreparation:
    """Checks, routes, times and throttles submits and builds what they store (see the module
    docstring). Keeps two caches: each account's usual validity (the configuration is fixed)
    and the expiries of the last wall time it was given, compared by identity: the shell
    passes one time object for a read chunk's submits, so that they share their submit time
    and expiry objects, and the stores and receipts meet the same objects again."""

    def __init__(self, routes: RoutingTable, store: StoreConfig,
                 lists: DistributionLists | None = None,
                 accounts: Sequence[AccountConfig] = ()) -> None:
        self.routes = routes
        self.store = store
        self.esmes = MoAddresses(accounts)
        """Which account's mo_addresses claim a destination: an MT to one of another
        account goes to that ESME (network `ESME_NETWORK` + its system_id). `use_accounts`
        swaps in another; `prepare` reads it once per submit."""
        self.lists = DistributionLists() if lists is None else lists
        """The accounts' distribution lists a submit_multi may name (shared with the control
        API, which changes them)."""
        self._validity_of: dict[str, timedelta] = {}
        self._now = _EPOCH
        self._expiry: dict[str, datetime] = {}
        """Per account, `_now` + its usual validity."""

    def use_accounts(self, accounts: Sequence[AccountConfig]) -> None:
        """Look destinations up in these accounts' mo_addresses from now on (accounts
        changed at run time)."""
        self.esmes = MoAddresses(accounts)

    def prepare(self, account: Account, message: SubmitSm | DataSm | SubmitMulti,
                received: float, now: datetime, dest: SmeDest | None = None) -> NewMessage:
        """The message a submit_sm or data_sm received at `received` (monotonic) and `now`
        (wall time) stores; given `dest`, the message a submit_multi stores for that one
        destination (`prepare_multi` checks its fields and takes its token, once).

        Raises:
            Rejected: with the SMPP status of the first rule broken.
            DestinationRejected: for the destination's number or route.
        """
        if dest is None:
            check_message_fields(message, account)
            ton = message.dest_addr_ton  # type: ignore[union-attr]
            npi = message.dest_addr_npi  # type: ignore[union-attr]
            destination = message.destination_addr  # type: ignore[union-attr]
        else:
            ton, npi, destination = dest.dest_addr_ton, dest.dest_addr_npi, dest.destination_addr
        if ton > MAX_TON or not destination:
            check_destination(ton, destination)  # (raises)
        routes = self.routes
        network = routes.default if routes.trivial else None
        esmes = self.esmes
        if esmes.any:  # (one dict lookup: another account's mo_addresses claim it?)
            owner = (esmes.owner(destination) if esmes.patterns
                     else esmes.literal.get(destination))
            # they take the default network's place: a routing rule that matches wins
            if owner is not None and owner != account.system_id and (
                    network is not None or routes.rule_for(
                        ton=ton, npi=npi, destination=destination,
                        account=account.system_id, source=message.source_addr) is None):
                network = ESME_NETWORK + owner
        if network is None:
            network = self.route(account, message.source_addr, ton, npi, destination)
        # set field by field on a bare object: the dataclass's keyword __init__ costs four
        # times as much here, once per message (tests check every field is set)
        new: NewMessage = _bare(NewMessage)
        tlvs = message.tlvs
        if type(message) is DataSm:  # no times, protocol_id, priority or replace flag
            schedule = validity = ""
            new.payload = tlvs.get(_PAYLOAD) or b""
            new.protocol_id = new.priority_flag = 0
            new.replace_if_present = False
        else:
            schedule = message.schedule_delivery_time  # type: ignore[union-attr]
            validity = message.validity_period  # type: ignore[union-attr]
            new.payload = tlvs.get(_PAYLOAD) or message.short_message  # type: ignore[union-attr]
            new.protocol_id = message.protocol_id  # type: ignore[union-attr]
            new.priority_flag = message.priority_flag  # type: ignore[union-attr]
            new.replace_if_present = (
                message.replace_if_present_flag != 0)  # type: ignore[union-attr]
        if schedule or validity:
            times = self.times(account, schedule, validity, now)
            new.expires_at, new.schedule_at = times.expires_at, times.schedule_at
        else:  # the usual: default validity from now on, the chunk's expiry object
            new.schedule_at = None
            usual = self._expiry.get(account.system_id) if now is self._now else None
            new.expires_at = self._usual_expiry(account, now) if usual is None else usual
        new.system_id = account.system_id
        new.destination_addr = destination
        new.direction = _MT
        new.service_type = message.service_type
        new.source_addr_ton = message.source_addr_ton
        new.source_addr_npi = message.source_addr_npi
        new.source_addr = message.source_addr
        new.dest_addr_ton = ton
        new.dest_addr_npi = npi
        new.esm_class = message.esm_class
        new.registered_delivery = message.registered_delivery
        new.data_coding = message.data_coding
        new.submitted_at = now
        new.network = network
        new.extra = segment_info(tlvs) if tlvs else b""
        new.fate = b""  # (the delivery scheduler's to give)
        new.multi_id = 0
        if dest is None:
            throttle(account, received)
        return new

    def prepare_multi(self, account: Account, message: SubmitMulti, received: float,
                      now: datetime) -> PreparedMulti:
        """A submit_multi's messages, each as a submit_sm to its destination would store it;
        one token for them all.

        Raises:
            Rejected: with the SMPP status of the first rule broken.
            EveryDestinationRejected: when no destination takes the message.
        """
        check_message_fields(message, account)
        if not 1 <= len(message.dest_address) <= MAX_MEMBERS:
            raise Rejected(S.ESME_RINVNUMDESTS)
        unsuccess: list[UnsuccessSme] = []
        destinations = self.destinations(account, message, unsuccess)
        accepted: list[tuple[SmeDest, NewMessage]] = []
        for dest in destinations:
            try:
                new = self.prepare(account, message, received, now, dest)
            except DestinationRejected as rejected:
                unsuccess.append(UnsuccessSme(dest.dest_addr_ton, dest.dest_addr_npi,
                                              dest.destination_addr, rejected.status))
                continue
            accepted.append((dest, new))
        if not accepted:
            raise EveryDestinationRejected(unsuccess)
        throttle(account, received)
        return PreparedMulti(accepted, unsuccess)

    def destinations(self, account: Account, message: SubmitMulti,
                     unsuccess: list[UnsuccessSme]) -> list[SmeDest]:
        """A submit_multi's SME addresses, each distribution list it names replaced by its
        members (an address reached twice is sent to once). A list the account does not
        have is refused in `unsuccess` (ESME_RINVDLNAME, its name as the address).

        Raises:
            Rejected: ESME_RINVNUMDESTS when the lists make more than 254 destinations.
        """
        dests = message.dest_address
        if len(dests) == 1 and type(dests[0]) is SmeDest:  # the usual one address
            return [dests[0]]
        expanded: dict[tuple[int, int, str], SmeDest] = {}
        for dest in dests:
            if isinstance(dest, SmeDest):
                expanded.setdefault(
                    (dest.dest_addr_ton, dest.dest_addr_npi, dest.destination_addr), dest)
                continue
            dl = self.lists.get(account.system_id, dest.dl_name)
            if dl is None:
                unsuccess.append(UnsuccessSme(0, 0, dest.dl_name, S.ESME_RINVDLNAME))
                continue
            for member in dl.members:
                expanded.setdefault((member.ton, member.npi, member.address),
                                    SmeDest(member.ton, member.npi, member.address))
            if len(expanded) > MAX_MEMBERS:  # (at once: a PDU of lists costs no more)
                raise Rejected(S.ESME_RINVNUMDESTS)
        if len(expanded) > MAX_MEMBERS:  # (addresses after the last list)
            raise Rejected(S.ESME_RINVNUMDESTS)
        return list(expanded.values())

    def route(self, account: Account, source: str, ton: int, npi: int,
              destination: str) -> str:
        """The network for one destination.

        Raises:
            DestinationRejected: ESME_RINVDSTADR when no network takes it and
                routing.unroutable is "reject", or when validate_numbers is on and the number
                is impossible.
        """
        routes = self.routes
        if routes.trivial:  # no rules, no validation: no number to parse
            network = routes.default
        else:
            route = routes.resolve(ton=ton, npi=npi, destination=destination,
                                   account=account.system_id, source=source)
            if routes.config.validate_numbers and (
                route.number is None or not route.number.valid
            ):
                raise DestinationRejected(S.ESME_RINVDSTADR)
            network = route.network
        if network is None:
            if routes.config.unroutable == "reject":
                raise DestinationRejected(S.ESME_RINVDSTADR)
            return NO_NETWORK
        return network

    def times(self, account: Account, schedule: str, validity: str, now: datetime) -> Times:
        """When a submit (or replace_sm) received at `now` (wall time) is due and expires.

        Raises:
            Rejected: ESME_RINVSCHED / ESME_RINVEXPIRY for malformed or impossible times.
        """
        if not schedule and not validity:  # one sum, no time parsing
            return _make_times(now + self.usual_validity(account), None, now)
        return self._resolve(account, schedule, validity, now)

    def usual_validity(self, account: Account) -> timedelta:
        """How long a submit that names no times is valid: what `resolve_times` gives it,
        as an offset from its submit time (computed once for each account)."""
        validity = self._validity_of.get(account.system_id)
        if validity is None:
            validity = self._validity_of[account.system_id] = (
                self._resolve(account, "", "", _EPOCH).expires_at - _EPOCH)
        return validity

    def _resolve(self, account: Account, schedule: str, validity: str, now: datetime) -> Times:
        store, config = self.store, account.config
        return resolve_times(schedule, validity, now,
                             default_validity=config.default_validity or store.default_validity,
                             max_validity=config.max_validity or store.max_validity)

    def _usual_expiry(self, account: Account, now: datetime) -> datetime:
        """`now` + the account's usual validity, kept for the other submits given `now`."""
        if now is not self._now:
            self._now = now
            self._expiry.clear()
        expiry = self._expiry[account.system_id] = now + self.usual_validity(account)
        return expiry


__all__ = [
    "DestinationRejected",
    "EveryDestinationRejected",
    "PreparedMulti",
    "Rejected",
    "SubmitPreparation",
    "Times",
    "check_destination",
    "check_message_fields",
    "check_user_data",
    "resolve_times",
    "segment_info",
    "throttle",
]
