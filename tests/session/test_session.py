"""SMSC-role and ESME-role sessions paired in memory, with explicit times (no clock, no I/O)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smsc.pdu import (
    BindReceiver,
    BindTransceiver,
    BindTransceiverResp,
    BindTransmitter,
    DataSm,
    DeliverSm,
    DeliverSmResp,
    EnquireLink,
    FrameBuffer,
    GenericNack,
    Prebuilt,
    PrebuiltDeliverSm,
    SubmitSm,
    SubmitSmResp,
    Unbind,
    decode,
    encode,
    make_response,
)
from smsc.pdu.codec import HEADER
from smsc.pdu.constants import CommandId, CommandStatus
from smsc.session import (
    BadResponseDropped,
    BindRequested,
    BindState,
    BindType,
    Bound,
    ConnectionClosed,
    LocalProtocolError,
    PeerErrorAnswered,
    RequestAnswered,
    RequestReceived,
    ResponseReceived,
    ResponseTimedOut,
    Role,
    SessionLimits,
    SmppSession,
    Unbound,
    UnmatchedResponse,
)

LIMITS = SessionLimits(
    window=3,
    session_init_timer=30,
    enquire_link_timer=60,
    response_timer=10,
    pdu_read_timer=5,
)
VECTORS = json.loads((Path(__file__).parent.parent / "data" / "vectors.json").read_text())


def vector(name: str) -> bytes:
    for entry in VECTORS["vectors"]:
        if entry["name"] == name:
            return bytes.fromhex(entry["hex"])
    raise KeyError(name)


def drain(session: SmppSession) -> list[object]:
    events = []
    while (event := session.next_event()) is not None:
        events.append(event)
    return events


class Pair:
    """An SMSC-role and an ESME-role session wired back to back."""

    def __init__(self, limits: SessionLimits = LIMITS, now: float = 0.0) -> None:
        self.smsc = SmppSession(Role.SMSC, limits=limits, now=now)
        self.esme = SmppSession(Role.ESME, limits=limits, now=now)

    def to_smsc(self, now: float = 0.0) -> list[object]:
        self.smsc.receive_data(self.esme.data_to_send(), now)
        return drain(self.smsc)

    def to_esme(self, now: float = 0.0) -> list[object]:
        self.esme.receive_data(self.smsc.data_to_send(), now)
        return drain(self.esme)

    def bind(self, request_cls: type = BindTransceiver, now: float = 0.0) -> None:
        self.esme.send(request_cls(system_id="acme", password="pw", interface_version=0x34), now)
        (event,) = self.to_smsc(now)
        assert isinstance(event, BindRequested)
        self.smsc.send(make_response(event.message, system_id="SMSC"), now)
        assert isinstance(drain(self.smsc)[-1], Bound)
        assert isinstance(self.to_esme(now)[-1], Bound)


def test_bind_transceiver_moves_both_sides_to_bound_trx() -> None:
    pair = Pair()
    pair.esme.send(BindTransceiver(system_id="acme", password="pw", interface_version=0x34), 0)
    (requested,) = pair.to_smsc()
    assert isinstance(requested, BindRequested)
    assert pair.smsc.state is BindState.OPEN
    assert pair.smsc.peer_speaks_34
    pair.smsc.send(BindTransceiverResp(sequence_number=requested.message.sequence_number,
                                       system_id="SMSC"), 0)
    assert pair.smsc.state is BindState.BOUND_TRX
    assert pair.smsc.system_id == "acme"
    smsc_events = drain(pair.smsc)
    assert smsc_events == [Bound(BindType.TRANSCEIVER, "acme")]
    esme_events = pair.to_esme()
    assert isinstance(esme_events[0], ResponseReceived)
    assert esme_events[1] == Bound(BindType.TRANSCEIVER, "acme")
    assert pair.esme.state is BindState.BOUND_TRX


def test_failed_bind_leaves_session_open() -> None:
    pair = Pair()
    pair.esme.send(BindTransmitter(system_id="acme", password="bad"), 0)
    (requested,) = pair.to_smsc()
    pair.smsc.send(make_response(requested.message, CommandStatus.ESME_RINVPASWD), 0)
    assert pair.smsc.state is BindState.OPEN
    (answer,) = pair.to_esme()
    assert isinstance(answer, ResponseReceived)
    assert answer.message.command_status == CommandStatus.ESME_RINVPASWD
    assert pair.esme.state is BindState.OPEN
    assert len(encode(answer.message)) == 16  # no body on error


def test_submit_before_bind_gets_rinvbndsts_response() -> None:
    smsc = SmppSession(Role.SMSC, limits=LIMITS, now=0)
    smsc.receive_data(encode(SubmitSm(sequence_number=7, destination_addr="1")), 0)
    (event,) = drain(smsc)
    assert isinstance(event, PeerErrorAnswered)
    answer = decode(smsc.data_to_send())
    assert isinstance(answer, SubmitSmResp)
    assert (answer.sequence_number, answer.command_status) == (7, CommandStatus.ESME_RINVBNDSTS)
    assert smsc.state is BindState.OPEN


def test_second_bind_gets_ralybnd_and_state_is_unchanged() -> None:
    pair = Pair()
    pair.bind(BindTransmitter)
    pair.smsc.receive_data(encode(BindReceiver(sequence_number=99, system_id="acme")), 1)
    (event,) = drain(pair.smsc)
    assert isinstance(event, PeerErrorAnswered)
    answer = decode(pair.smsc.data_to_send())
    assert answer.command_status == CommandStatus.ESME_RALYBND
    assert answer.command_id == CommandId.bind_receiver_resp
    assert pair.smsc.state is BindState.BOUND_TX


def test_enquire_link_is_answered_in_open_state() -> None:
    smsc = SmppSession(Role.SMSC, limits=LIMITS, now=0)
    smsc.receive_data(vector("enquire_link"), 0)
    (event,) = drain(smsc)
    assert isinstance(event, RequestAnswered)
    answer = decode(smsc.data_to_send())
    assert answer.command_id == CommandId.enquire_link_resp
    assert answer.sequence_number == event.request.sequence_number


def test_unknown_command_id_gets_generic_nack_and_session_survives() -> None:
    smsc = SmppSession(Role.SMSC, limits=LIMITS, now=0)
    smsc.receive_data(vector("malformed_unknown_command_id_then_enquire_link"), 0)
    events = drain(smsc)
    assert isinstance(events[0], PeerErrorAnswered)
    assert isinstance(events[1], RequestAnswered)
    out = smsc.data_to_send()
    first, second = decode(out[:16]), decode(out[16:])
    assert isinstance(first, GenericNack)
    assert first.command_status == CommandStatus.ESME_RINVCMDID
    assert first.sequence_number == 0x0A342EE7
    assert second.command_id == CommandId.enquire_link_resp
    assert second.sequence_number == 0x0A342EE7
    assert not smsc.closed


@pytest.mark.parametrize("name", ["malformed_length_below_16", "malformed_huge_length"])
def test_broken_framing_gets_generic_nack_and_close(name: str) -> None:
    smsc = SmppSession(Role.SMSC, limits=LIMITS, now=0)
    smsc.receive_data(vector(name), 0)
    events = drain(smsc)
    assert isinstance(events[0], PeerErrorAnswered)
    assert isinstance(events[-1], ConnectionClosed)
    nack = decode(smsc.data_to_send())
    assert isinstance(nack, GenericNack)
    assert nack.command_status == CommandStatus.ESME_RINVCMDLEN
    assert smsc.closed


def test_body_level_error_answers_with_the_requests_own_response() -> None:
    pair = Pair()
    pair.bind(BindTransmitter)
    pair.smsc.receive_data(vector("malformed_cstring_too_long_source_addr"), 1)
    (event,) = drain(pair.smsc)
    assert isinstance(event, PeerErrorAnswered)
    answer = decode(pair.smsc.data_to_send())
    assert isinstance(answer, SubmitSmResp)
    assert answer.command_status == CommandStatus.ESME_RINVSRCADR
    assert not pair.smsc.closed


def test_partial_pdu_times_out_with_generic_nack_and_close() -> None:
    smsc = SmppSession(Role.SMSC, limits=LIMITS, now=0)
    smsc.receive_data(vector("malformed_header_incomplete_15_octets"), 1.0)
    assert drain(smsc) == []
    assert smsc.get_timer() == pytest.approx(6.0)
    smsc.handle_timer(5.9)
    assert not smsc.closed
    smsc.handle_timer(6.0)
    events = drain(smsc)
    assert isinstance(events[-1], ConnectionClosed)
    nack = decode(smsc.data_to_send())
    assert (nack.command_status, nack.sequence_number) == (CommandStatus.ESME_RINVCMDLEN, 0)


def test_session_init_timer_closes_an_unbound_connection() -> None:
    smsc = SmppSession(Role.SMSC, limits=LIMITS, now=100.0)
    assert smsc.get_timer() == 130.0
    smsc.handle_timer(129.0)
    assert not smsc.closed
    smsc.handle_timer(130.0)
    (event,) = drain(smsc)
    assert isinstance(event, ConnectionClosed)
    assert "session_init_timer" in event.reason


def test_idle_session_is_probed_with_enquire_link_and_closed_when_unanswered() -> None:
    pair = Pair()
    pair.bind()
    assert pair.smsc.get_timer() == 60.0
    pair.smsc.handle_timer(60.0)
    probe = decode(pair.smsc.data_to_send())
    assert isinstance(probe, EnquireLink)
    assert pair.smsc.get_timer() == 70.0  # the probe's response deadline
    pair.smsc.handle_timer(70.0)
    events = drain(pair.smsc)
    assert isinstance(events[-1], ConnectionClosed)
    assert "enquire_link" in events[-1].reason


def test_answered_probe_keeps_the_session() -> None:
    pair = Pair()
    pair.bind()
    pair.smsc.handle_timer(60.0)
    answered = pair.to_esme(60.0)
    assert isinstance(answered[0], RequestAnswered)
    (answer,) = pair.to_smsc(61.0)
    assert isinstance(answer, ResponseReceived) and isinstance(answer.request, EnquireLink)
    assert pair.smsc.get_timer() == 121.0
    assert not pair.smsc.closed


def test_deliver_sm_window_response_timeout_and_close_report_unanswered() -> None:
    pair = Pair()
    pair.bind()
    sent = [pair.smsc.send(DeliverSm(destination_addr=str(i)), float(i)) for i in range(3)]
    assert [m.sequence_number for m in sent] == [1, 2, 3]
    assert pair.smsc.window_free == 0
    with pytest.raises(LocalProtocolError):
        pair.smsc.send(DeliverSm(destination_addr="x"), 3.0)
    # the ESME answers only the second one
    events = pair.to_esme(3.0)
    second = events[1].message
    pair.esme.send(DeliverSmResp(sequence_number=second.sequence_number), 3.0)
    (resp,) = pair.to_smsc(3.0)
    assert isinstance(resp, ResponseReceived) and resp.request == sent[1]
    assert pair.smsc.window_free == 1
    pair.smsc.handle_timer(10.0)
    (timed_out,) = drain(pair.smsc)
    assert timed_out == ResponseTimedOut(sent[0])
    assert pair.smsc.window_free == 2
    pair.smsc.receive_data(b"", 11.0)
    events = drain(pair.smsc)
    assert isinstance(events[-1], ConnectionClosed)
    assert events[-1].unanswered == (sent[2],)
    assert Unbound() in events


def test_unbind_from_esme_waits_for_requests_in_progress() -> None:
    pair = Pair()
    pair.bind()
    pair.esme.send(SubmitSm(destination_addr="1"), 1)
    pair.esme.send(Unbind(), 1)
    events = pair.to_smsc(1)
    assert isinstance(events[0], RequestReceived)
    assert isinstance(events[1], Unbound)
    assert pair.smsc.data_to_send() == b""  # unbind_resp waits for the submit_sm_resp
    pair.smsc.send(SubmitSmResp(sequence_number=events[0].message.sequence_number,
                                message_id="1"), 2)
    out = pair.smsc.data_to_send()
    assert decode(out[: len(out) - 16]).command_id == CommandId.submit_sm_resp
    assert decode(out[-16:]).command_id == CommandId.unbind_resp
    assert pair.smsc.closed


def test_unbind_from_smsc_is_acknowledged_and_both_close() -> None:
    pair = Pair()
    pair.bind()
    pair.smsc.send(Unbind(), 5)
    assert pair.smsc.state is BindState.UNBINDING
    esme_events = pair.to_esme(5)
    assert isinstance(esme_events[0], Unbound)
    assert pair.esme.closed
    smsc_events = pair.to_smsc(5)
    assert isinstance(smsc_events[-1], ConnectionClosed)
    assert pair.smsc.closed


def test_requests_after_unbind_get_rinvbndsts() -> None:
    pair = Pair()
    pair.bind()
    pair.esme.send(SubmitSm(destination_addr="1"), 1)
    pair.esme.send(Unbind(), 1)
    pair.to_smsc(1)
    pair.smsc.receive_data(encode(SubmitSm(sequence_number=50, destination_addr="2")), 1)
    (event,) = drain(pair.smsc)
    assert isinstance(event, PeerErrorAnswered)
    assert decode(pair.smsc.data_to_send()).command_status == CommandStatus.ESME_RINVBNDSTS


BROKEN_RESPONSES = {
    "deliver_sm_resp, message_id without NUL": (CommandId.deliver_sm_resp, b"abcd"),
    "deliver_sm_resp, message_id too long": (CommandId.deliver_sm_resp, b"a" * 80 + b"\x00"),
    "data_sm_resp, TLV past the end": (CommandId.data_sm_resp, b"1\x00\x04\x25\x00\x09\x01"),
    "generic_nack with a broken body": (CommandId.generic_nack, b"xx"),
    "unknown response id": (0x80000099, b""),
}


@pytest.mark.parametrize("name", list(BROKEN_RESPONSES))
def test_a_response_that_cannot_be_read_is_dropped_never_answered(name: str) -> None:
    command_id, body = BROKEN_RESPONSES[name]
    pair = Pair()
    pair.bind()
    request = pair.smsc.send(DeliverSm(destination_addr="1"), 1.0)
    pair.smsc.data_to_send()
    sequence = request.sequence_number
    broken = HEADER.pack(16 + len(body), command_id, 0, sequence) + body
    # the PDU after it is read as usual: framing is intact
    pair.smsc.receive_data(broken + encode(EnquireLink(sequence_number=50)), 2.0)
    dropped, answered = drain(pair.smsc)
    assert isinstance(dropped, BadResponseDropped)
    assert (dropped.command_id, dropped.sequence_number) == (command_id, sequence)
    assert dropped.command_status != CommandStatus.ESME_ROK and dropped.reason
    assert isinstance(answered, RequestAnswered)
    assert decode(pair.smsc.data_to_send()).command_id == CommandId.enquire_link_resp  # only
    assert not pair.smsc.closed and pair.smsc.outstanding == 1
    pair.smsc.handle_timer(11.0)  # its request waits for its response timer, as if unanswered
    assert drain(pair.smsc) == [ResponseTimedOut(request)]


def test_the_esme_drops_a_broken_response_too() -> None:
    pair = Pair()
    pair.bind()
    submit = pair.esme.send(SubmitSm(destination_addr="1"), 1.0)
    pair.esme.data_to_send()
    pair.esme.receive_data(
        HEADER.pack(16, CommandId.submit_sm_resp, 0, submit.sequence_number), 2.0)
    (dropped,) = drain(pair.esme)
    assert isinstance(dropped, BadResponseDropped)
    assert pair.esme.data_to_send() == b"" and pair.esme.outstanding == 1


@pytest.mark.parametrize("length", [15, 0xF0000011])
def test_a_response_with_an_impossible_length_closes_the_session_unanswered(
    length: int
) -> None:
    pair = Pair()
    pair.bind()
    pair.smsc.send(DeliverSm(destination_addr="1"), 1.0)
    pair.smsc.data_to_send()
    pair.smsc.receive_data(HEADER.pack(length, CommandId.deliver_sm_resp, 0, 1), 2.0)
    events = drain(pair.smsc)
    assert isinstance(events[0], BadResponseDropped)
    assert events[0].command_status == CommandStatus.ESME_RINVCMDLEN
    assert isinstance(events[-1], ConnectionClosed) and "framing lost" in events[-1].reason
    assert pair.smsc.closed and pair.smsc.data_to_send() == b""


def test_response_without_request_is_dropped_and_reported() -> None:
    pair = Pair()
    pair.bind()
    pair.smsc.receive_data(encode(DeliverSmResp(sequence_number=1234)), 1)
    (event,) = drain(pair.smsc)
    assert isinstance(event, UnmatchedResponse)
    assert pair.smsc.data_to_send() == b""


def test_send_rejects_what_this_role_may_not_send() -> None:
    pair = Pair()
    pair.bind(BindTransmitter)
    with pytest.raises(LocalProtocolError):
        pair.smsc.send(DeliverSm(destination_addr="1"), 1)  # no deliver_sm on a TX bind
    with pytest.raises(LocalProtocolError):
        pair.smsc.send(SubmitSmResp(sequence_number=42, message_id="x"), 1)  # nothing open


def test_send_response_answers_like_send_and_checks_the_same() -> None:
    pair = Pair()
    pair.bind()
    pair.esme.send(SubmitSm(destination_addr="1", short_message=b"a"), 1)
    pair.esme.send(SubmitSm(destination_addr="2", short_message=b"b"), 1)
    first, second = pair.to_smsc(1)
    assert isinstance(first, RequestReceived) and isinstance(second, RequestReceived)
    pair.smsc.send_response(make_response(first.message, message_id="1"))
    pair.smsc.send(make_response(second.message, message_id="2"), 1)
    assert pair.smsc.peer_open_requests == 0
    answers = pair.to_esme(2)
    assert [(e.message.message_id, e.request.destination_addr)  # type: ignore[attr-defined]
            for e in answers] == [("1", "1"), ("2", "2")]
    with pytest.raises(LocalProtocolError):  # answered already
        pair.smsc.send_response(make_response(first.message, message_id="1"))
    with pytest.raises(LocalProtocolError):  # not a response to anything open
        pair.smsc.send_response(EnquireLink(sequence_number=7))
    pair.smsc.close("test")
    with pytest.raises(LocalProtocolError):
        pair.smsc.send_response(make_response(first.message, message_id="1"))


def test_answer_accepted_writes_what_send_response_writes_and_checks_the_same() -> None:
    built, direct = Pair(), Pair()
    for pair in (built, direct):
        pair.bind()
        pair.esme.send(SubmitSm(destination_addr="1", short_message=b"a"), 1)
        pair.esme.send(DataSm(destination_addr="2"), 1)
    submit, data = (event.message for event in built.to_smsc(1))  # type: ignore[attr-defined]
    assert [type(event) for event in direct.to_smsc(1)] == [RequestReceived] * 2
    built.smsc.send_response(make_response(submit, message_id="1f"))
    built.smsc.send_response(make_response(data, message_id="20"))
    direct.smsc.send_prebuilt_answer(CommandId.submit_sm_resp, submit.sequence_number, b"1f\x00")
    direct.smsc.send_prebuilt_answer(CommandId.data_sm_resp, data.sequence_number, b"20\x00")
    assert direct.smsc.peer_open_requests == 0
    assert direct.smsc.data_to_send() == built.smsc.data_to_send()
    with pytest.raises(LocalProtocolError):  # answered already
        direct.smsc.send_prebuilt_answer(CommandId.submit_sm_resp, submit.sequence_number, b"1\x00")
    direct.esme.send(SubmitSm(destination_addr="3"), 2)
    (third,) = direct.to_smsc(2)
    sequence = third.message.sequence_number  # type: ignore[attr-defined]
    with pytest.raises(LocalProtocolError):  # the wrong kind of answer for that request
        direct.smsc.send_prebuilt_answer(CommandId.data_sm_resp, sequence, b"1\x00")
    with pytest.raises(LocalProtocolError):  # (a generic_nack is no usual answer)
        direct.smsc.send_prebuilt_answer(CommandId.generic_nack, sequence + 1, b"")
    assert direct.smsc.peer_open_requests == 1  # refusals leave the request open
    direct.smsc.close("test")
    with pytest.raises(LocalProtocolError):
        direct.smsc.send_prebuilt_answer(CommandId.submit_sm_resp, sequence, b"1\x00")


def test_answer_accepted_leaves_a_bind_to_send_response() -> None:
    smsc, esme = SmppSession(Role.SMSC, limits=LIMITS, now=0), SmppSession(Role.ESME,
                                                                           limits=LIMITS, now=0)
    esme.send(BindTransceiver(system_id="acme", password="pw", interface_version=0x34), 0)
    smsc.receive_data(esme.data_to_send(), 0)
    (requested,) = drain(smsc)
    assert isinstance(requested, BindRequested)
    with pytest.raises(LocalProtocolError):  # it would answer without binding
        smsc.send_prebuilt_answer(CommandId.bind_transceiver_resp,
                             requested.message.sequence_number, b"SMSC\x00")
    assert smsc.state is BindState.OPEN and smsc.peer_open_requests == 1


def test_answer_accepted_lets_a_waiting_unbind_finish() -> None:
    pair = Pair()
    pair.bind()
    pair.esme.send(SubmitSm(destination_addr="1"), 1)
    pair.esme.send(Unbind(), 1)
    request, unbound = pair.to_smsc(1)
    assert isinstance(request, RequestReceived) and isinstance(unbound, Unbound)
    pair.smsc.send_prebuilt_answer(CommandId.submit_sm_resp, request.message.sequence_number,
                                   b"7\x00")
    out = pair.smsc.data_to_send()
    answer = decode(out[: len(out) - 16])
    assert isinstance(answer, SubmitSmResp) and answer.message_id == "7"
    assert decode(out[-16:]).command_id == CommandId.unbind_resp
    assert pair.smsc.closed


def test_answer_accepted_run_writes_what_answering_one_by_one_writes() -> None:
    one_by_one, run = Pair(SessionLimits(window=10)), Pair(SessionLimits(window=10))
    for pair in (one_by_one, run):
        pair.bind()
        for n in range(4):
            pair.esme.send(SubmitSm(destination_addr=str(n), short_message=b"a"), 1)
    requests = [event.message for event in one_by_one.to_smsc(1)]  # type: ignore[attr-defined]
    assert len(run.to_smsc(1)) == 4
    answers = [(r.sequence_number, b"%x\x00" % n) for n, r in enumerate(requests)]
    for sequence, body in answers[:3]:
        one_by_one.smsc.send_prebuilt_answer(CommandId.submit_sm_resp, sequence, body)
    run.smsc.send_prebuilt_answers(CommandId.submit_sm_resp, answers[:3])
    assert run.smsc.data_to_send() == one_by_one.smsc.data_to_send()
    assert run.smsc.peer_open_requests == 1
    with pytest.raises(LocalProtocolError):  # the second is answered already
        run.smsc.send_prebuilt_answers(CommandId.submit_sm_resp, [answers[3], answers[0]])
    out = run.smsc.data_to_send()  # the one before it went
    answer = decode(out)
    assert isinstance(answer, SubmitSmResp) and answer.sequence_number == answers[3][0]
    for refused in (CommandId.submit_sm, CommandId.bind_transceiver_resp):
        with pytest.raises(LocalProtocolError):  # no usual answer
            run.smsc.send_prebuilt_answers(refused, [])


def test_answer_accepted_run_lets_a_waiting_unbind_finish_after_its_last_answer() -> None:
    pair = Pair()
    pair.bind()
    pair.esme.send(SubmitSm(destination_addr="1"), 1)
    pair.esme.send(SubmitSm(destination_addr="2"), 1)
    pair.esme.send(Unbind(), 1)
    first, second, unbound = pair.to_smsc(1)
    assert isinstance(unbound, Unbound)
    pair.smsc.send_prebuilt_answers(CommandId.submit_sm_resp, [
        (first.message.sequence_number, b"1\x00"),  # type: ignore[attr-defined]
        (second.message.sequence_number, b"2\x00")])  # type: ignore[attr-defined]
    out = pair.smsc.data_to_send()
    assert [decode(out[i:i + 18]).message_id for i in (0, 18)  # type: ignore[attr-defined]
            ] == ["1", "2"]
    assert decode(out[36:]).command_id == CommandId.unbind_resp
    assert pair.smsc.closed


def test_send_prebuilt_sends_what_send_sends_and_checks_the_same() -> None:
    via_send, direct = Pair(SessionLimits(window=2)), Pair(SessionLimits(window=2))
    body = encode(DeliverSm(destination_addr="1", short_message=b"receipt"))[16:]
    for pair in (via_send, direct):
        with pytest.raises(LocalProtocolError):  # not bound yet: no deliver_sm
            pair.smsc.send_prebuilt(PrebuiltDeliverSm(body), 0)
        pair.bind()
    first = via_send.smsc.send(PrebuiltDeliverSm(body), 1)
    again = direct.smsc.send_prebuilt(PrebuiltDeliverSm(body), 1)
    assert first.sequence_number == again.sequence_number != 0
    assert direct.smsc.data_to_send() == via_send.smsc.data_to_send()
    assert direct.smsc.get_timer() == via_send.smsc.get_timer()
    with pytest.raises(LocalProtocolError):  # that number awaits its response
        direct.smsc.send_prebuilt(PrebuiltDeliverSm(body, again.sequence_number), 1)
    second = direct.smsc.send_prebuilt(PrebuiltDeliverSm(body), 2)
    with pytest.raises(LocalProtocolError):  # the window (2) is full
        direct.smsc.send_prebuilt(PrebuiltDeliverSm(body), 2)
    (answered,) = direct.to_esme(2)
    assert isinstance(answered, RequestReceived)
    assert answered.message.sequence_number == second.sequence_number
    direct.esme.send(make_response(answered.message), 3)
    (response,) = direct.to_smsc(3)
    assert isinstance(response, ResponseReceived) and response.request is second
    assert direct.smsc.window_free == 1
    direct.smsc.close("test")
    with pytest.raises(LocalProtocolError):
        direct.smsc.send_prebuilt(PrebuiltDeliverSm(body), 4)


class _PrebuiltDataSm(Prebuilt):
    """A second command prebuilt: a run stops where the command changes."""

    __slots__ = ()
    command_id = CommandId.data_sm


def test_send_prebuilt_run_sends_what_sends_one_by_one_send_while_the_window_has_room(
) -> None:
    one_by_one, run = Pair(SessionLimits(window=3)), Pair(SessionLimits(window=3))
    bodies = [encode(DeliverSm(destination_addr=str(n), short_message=b"receipt"))[16:]
              for n in range(5)]
    with pytest.raises(LocalProtocolError):  # not bound yet: no deliver_sm
        run.smsc.send_prebuilt_run([PrebuiltDeliverSm(bodies[0])], 0)
    for pair in (one_by_one, run):
        pair.bind()
    for body in bodies[:3]:
        one_by_one.smsc.send(PrebuiltDeliverSm(body), 1)
    messages = [PrebuiltDeliverSm(body) for body in bodies]
    assert run.smsc.send_prebuilt_run(messages, 1) == 3  # the window's room, in order
    data = run.smsc.data_to_send()
    assert data == one_by_one.smsc.data_to_send()
    assert run.smsc.get_timer() == one_by_one.smsc.get_timer()
    assert [m.sequence_number for m in messages[3:]] == [0, 0]  # left as they were
    assert run.smsc.window_free == 0 and run.smsc.send_prebuilt_run(messages[3:], 1) == 0
    assert run.smsc.data_to_send() == b""
    run.esme.receive_data(data, 2)
    received = drain(run.esme)
    assert [e.message.sequence_number for e in received  # type: ignore[attr-defined]
            ] == [m.sequence_number for m in messages[:3]]
    for event in received[:2]:
        run.esme.send(make_response(event.message), 2)  # type: ignore[attr-defined]
    answered = run.to_smsc(2)
    assert [e.request for e in answered] == messages[:2]  # type: ignore[attr-defined]
    data_sm = _PrebuiltDataSm(encode(DataSm(destination_addr="9"))[16:])
    mixed = [messages[3], data_sm, messages[4]]
    assert run.smsc.send_prebuilt_run(mixed, 3) == 1  # stops where the command changes
    assert run.smsc.send_prebuilt_run(mixed[1:], 3) == 1
    assert data_sm.sequence_number != 0 and run.smsc.window_free == 0


def test_send_prebuilt_run_refuses_a_taken_number_first_and_stops_before_one_later() -> None:
    pair = Pair(SessionLimits(window=5))
    pair.bind()
    body = encode(DeliverSm(destination_addr="1", short_message=b"receipt"))[16:]
    sent = pair.smsc.send_prebuilt(PrebuiltDeliverSm(body), 1)
    with pytest.raises(LocalProtocolError):  # that number awaits its response
        pair.smsc.send_prebuilt_run([PrebuiltDeliverSm(body, sent.sequence_number)], 1)
    before = pair.smsc.data_to_send()
    later = [PrebuiltDeliverSm(body), PrebuiltDeliverSm(body, sent.sequence_number)]
    assert pair.smsc.send_prebuilt_run(later, 1) == 1
    assert len(pair.smsc.data_to_send()) == len(before) and pair.smsc.window_free == 3
    pair.smsc.close("test")
    with pytest.raises(LocalProtocolError):
        pair.smsc.send_prebuilt_run([PrebuiltDeliverSm(body)], 2)


def test_sequence_numbers_wrap_and_skip_outstanding_ones() -> None:
    pair = Pair(SessionLimits(window=5, enquire_link_timer=0))
    pair.bind()
    pair.smsc._next_sequence = 0x7FFFFFFE
    sent = [pair.smsc.send(DeliverSm(destination_addr="1"), 0).sequence_number for _ in range(3)]
    assert sent == [0x7FFFFFFE, 0x7FFFFFFF, 1]
    pair.smsc._next_sequence = 0x7FFFFFFF  # still awaiting its response, as is 1
    assert pair.smsc.send(DeliverSm(destination_addr="1"), 0).sequence_number == 2
    pair.smsc._next_sequence = 1
    assert pair.smsc.send(DeliverSm(destination_addr="1"), 0).sequence_number == 3


def test_byte_by_byte_feeding_gives_the_same_events() -> None:
    stream = vector("enquire_link") + vector("malformed_unknown_command_id_then_enquire_link")
    whole = SmppSession(Role.SMSC, limits=LIMITS, now=0)
    whole.receive_data(stream, 0)
    split = SmppSession(Role.SMSC, limits=LIMITS, now=0)
    for i in range(len(stream)):
        split.receive_data(stream[i : i + 1], 0)
    assert drain(whole) == drain(split)
    assert whole.data_to_send() == split.data_to_send()


def test_read_timer_is_not_reset_by_a_trickle() -> None:
    smsc = SmppSession(Role.SMSC, limits=LIMITS, now=0)
    data = vector("enquire_link")
    for second in range(4):
        smsc.receive_data(data[second : second + 1], float(second))
    assert smsc.get_timer() == pytest.approx(5.0)  # from the first octet, not the last
    smsc.handle_timer(5.0)
    assert smsc.closed


def test_inactivity_timer_unbinds_a_session_without_requests() -> None:
    limits = SessionLimits(enquire_link_timer=0, inactivity_timer=50, response_timer=10)
    pair = Pair(limits)
    pair.bind()
    pair.esme.send(EnquireLink(), 20.0)  # enquire_link keeps the link alive, not the session
    pair.to_smsc(20.0)
    pair.to_esme(20.0)
    assert pair.smsc.get_timer() == pytest.approx(50.0)
    pair.smsc.handle_timer(50.0)
    assert isinstance(decode(pair.smsc.data_to_send()), Unbind)
    assert pair.smsc.state is BindState.UNBINDING


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200), st.integers(0, 3))
def test_any_bytes_give_events_or_a_close_never_an_exception(data: bytes, cut: int) -> None:
    for role in (Role.SMSC, Role.ESME):
        session = SmppSession(role, limits=LIMITS, now=0)
        if len(data) >= 4 and cut:
            data = len(data).to_bytes(4, "big") + data[4:]  # a plausible length now and then
        session.receive_data(data, 0)
        drain(session)
        out = session.data_to_send()
        frames = FrameBuffer()
        frames.feed(out)
        for frame in frames.pop_all():
            answer = decode(frame)  # everything the session says is a valid PDU
            assert answer.is_response or isinstance(answer, EnquireLink)
        session.handle_timer(1000.0)
        drain(session)


def test_a_request_reusing_an_open_sequence_number_is_refused_and_the_first_stays_open(
) -> None:
    pair = Pair()
    pair.bind()
    first = SubmitSm(destination_addr="1", sequence_number=77)
    pair.smsc.receive_data(encode(first) + encode(SubmitSm(destination_addr="2",
                                                           sequence_number=77)), 1)
    received, refused = drain(pair.smsc)
    assert isinstance(received, RequestReceived)
    assert received.message.destination_addr == "1"  # type: ignore[attr-defined]
    assert isinstance(refused, PeerErrorAnswered) and refused.sequence_number == 77
    assert refused.command_status == CommandStatus.ESME_RUNKNOWNERR
    answer = decode(pair.smsc.data_to_send())
    assert isinstance(answer, SubmitSmResp) and answer.sequence_number == 77
    assert answer.command_status == CommandStatus.ESME_RUNKNOWNERR
    assert pair.smsc.peer_open_requests == 1  # the first still awaits its answer
    pair.smsc.send_prebuilt_answer(CommandId.submit_sm_resp, 77, b"1\x00")
    assert decode(pair.smsc.data_to_send()).command_status == CommandStatus.ESME_ROK
