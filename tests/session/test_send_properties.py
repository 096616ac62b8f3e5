"""The session's send variants against each other, for random sessions and PDUs: a run sends
what sending its PDUs one by one sends, and leaves the same session behind; a single send,
whichever path it takes (the lean one of an ordinary request or usual answer, or the general
one), does what `_send_run` of that one PDU does; and a response that answers no open request
is refused alike by every variant."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from smsc.pdu import (
    AlertNotification,
    BindReceiver,
    BindTransceiver,
    BindTransmitter,
    DataSm,
    DataSmResp,
    DeliverSm,
    DeliverSmResp,
    EnquireLink,
    EnquireLinkResp,
    GenericNack,
    Outbind,
    Pdu,
    Prebuilt,
    PrebuiltDataSmResp,
    PrebuiltDeliverSm,
    PrebuiltSubmitSmResp,
    QuerySm,
    QuerySmResp,
    SubmitSm,
    SubmitSmResp,
    Unbind,
    UnbindResp,
    decode,
    encode,
    make_response,
)
from smsc.pdu.constants import CommandId
from smsc.session import (
    BindRequested,
    LocalProtocolError,
    Role,
    SessionLimits,
    SmppSession,
    is_allowed,
)
from smsc.session.session import MAX_SEQUENCE

SETTINGS = settings(max_examples=300, deadline=None)
BIND_REQUESTS = (BindTransmitter, BindReceiver, BindTransceiver, BindTransceiver)
"""(a transceiver, which may send and receive everything here, twice as often)"""


class _PrebuiltDataSm(Prebuilt):
    """A second request prebuilt, so that a run can change command."""

    __slots__ = ()
    command_id = CommandId.data_sm


def bound_smsc(bind: type[Pdu], window: int) -> SmppSession:
    """An SMSC-role session bound with `bind`, its window `window`."""
    session = SmppSession(Role.SMSC, limits=SessionLimits(window=window, response_timer=10),
                          now=0.0)
    session.receive_data(encode(bind(sequence_number=1, system_id="acme", password="pw",
                                     interface_version=0x34)), 0.0)
    (requested,) = session.events
    assert isinstance(requested, BindRequested)
    session.send(make_response(requested.message, system_id="SMSC"), 0.0)
    session.events.clear()
    session.data_to_send()
    return session


def snapshot(session: SmppSession) -> dict[str, Any]:
    """Everything a send may change, requests compared by their octets (a request sent in
    wire form and the same request as a PDU are the same request)."""
    return {
        "state": (session.state, session.bound, session.closed, session.bind_type,
                  session.system_id),
        "outstanding": [(sequence, encode(request), deadline)
                        for sequence, (request, deadline) in session._outstanding.items()],
        "window": (session._windowed, session.window_free),
        "next_sequence": session._next_sequence,
        "peer_open": sorted(session._peer_open.items()),
        "pending_unbind": session._pending_unbind_resp,
        "times": (session._last_activity, session._last_received, session._partial_since,
                  session._enquire_sequence),
        "timer": session.get_timer(),
        "events": list(session.events),
        "queued": session.pending_output,
    }


# -- requests: send_prebuilt_run against send_prebuilt / send, one by one ---------------------

BODIES = [encode(DeliverSm(destination_addr=str(n), short_message=b"r" * n))[16:]
          for n in range(3)]
DATA_BODIES = [encode(DataSm(destination_addr=str(n)))[16:] for n in range(3)]


@dataclass(frozen=True)
class RequestSpec:
    """One request to send: deliver_sm or data_sm, which body, its sequence_number (0: let
    the session number it)."""

    data_sm: bool
    body: int
    sequence: int

    def prebuilt(self) -> Prebuilt:
        if self.data_sm:
            return _PrebuiltDataSm(DATA_BODIES[self.body], self.sequence)
        return PrebuiltDeliverSm(BODIES[self.body], self.sequence)

    def pdu(self) -> Pdu:
        """The same request as an ordinary PDU, for `send`'s general path."""
        message = decode(encode(self.prebuilt()))
        message.sequence_number = self.sequence
        return message


requests = st.builds(RequestSpec, st.booleans(), st.integers(0, 2),
                     st.sampled_from([0, 0, 0, 1, 2, 3, 4, 5]))
"""(numbered by the session more often than not; the numbers given are those the session
gives first, so that they collide)"""


@dataclass(frozen=True)
class RequestScenario:
    bind: type[Pdu]
    window: int
    next_sequence: int
    earlier: list[RequestSpec]
    answered: list[int]
    """Indices into `earlier` that the ESME answers before the run."""
    closed: bool
    run: list[RequestSpec]


request_scenarios = st.builds(
    RequestScenario,
    st.sampled_from(BIND_REQUESTS),
    st.integers(1, 6),
    st.sampled_from([1, 1, MAX_SEQUENCE - 2, MAX_SEQUENCE]),
    st.lists(requests, max_size=6),
    st.lists(st.integers(0, 5), max_size=4),
    st.integers(0, 9).map(lambda n: n == 0),
    st.lists(requests, max_size=8),
)


def prepared(scenario: RequestScenario) -> SmppSession:
    """The session as the scenario has it before the run: earlier requests sent (those its
    state refuses left out), some answered."""
    session = bound_smsc(scenario.bind, scenario.window)
    session._next_sequence = scenario.next_sequence
    sent = []
    for spec in scenario.earlier:
        with contextlib.suppress(LocalProtocolError):  # (what the state refuses)
            sent.append(session.send_prebuilt(spec.prebuilt(), 1.0))
    for index in scenario.answered:
        if index < len(sent):
            answer = (DataSmResp(sequence_number=sent[index].sequence_number)
                      if isinstance(sent[index], _PrebuiltDataSm)
                      else DeliverSmResp(sequence_number=sent[index].sequence_number))
            session.receive_data(encode(answer), 1.5)
    if scenario.closed:
        session.close("test")
    session.events.clear()
    session.data_to_send()
    return session


def send_one_by_one(session: SmppSession, messages: list[Any], single: str
                    ) -> tuple[int, bool]:
    """Send `messages` one at a time through `single` while the command stays the first's
    and the session takes them; returns how many went and whether the first was refused."""
    send = getattr(session, single)
    sent = 0
    for message in messages:
        if message.command_id != messages[0].command_id:
            break
        try:
            send(message, 2.0)
        except LocalProtocolError:
            return sent, sent == 0
        sent += 1
    return sent, False


@SETTINGS
@given(request_scenarios, st.sampled_from(["send_prebuilt", "send", "send (PDUs)"]))
def test_a_run_of_requests_sends_what_sending_them_one_by_one_sends(
    scenario: RequestScenario, single: str
) -> None:
    run_session, one_session = prepared(scenario), prepared(scenario)
    assert snapshot(run_session) == snapshot(one_session)
    window_full = run_session.window_free == 0
    run = [spec.prebuilt() for spec in scenario.run]
    ones = [spec.pdu() if single == "send (PDUs)" else spec.prebuilt()
            for spec in scenario.run]
    legal = bool(run) and is_allowed(Role.SMSC, run_session.state, run[0].command_id)
    try:
        went = run_session.send_prebuilt_run(run, 2.0)
        refused = False
    except LocalProtocolError:
        went, refused = 0, True
    one_went, first_refused = send_one_by_one(one_session, ones, single.split()[0])
    if run:  # the run refuses what the first send refuses, but for a full window: it sends 0
        assert refused == (first_refused and not (window_full and legal and not scenario.closed))
    else:  # a run of none: refused only by a closed session
        assert refused == scenario.closed
    assert went == one_went
    assert run_session.data_to_send() == one_session.data_to_send()
    assert snapshot(run_session) == snapshot(one_session)
    assert [m.sequence_number for m in run] == [m.sequence_number for m in ones]


# -- answers: send_prebuilt_answers against send_prebuilt_answer / send_response, one by one

PEER_REQUESTS = {
    CommandId.submit_sm: lambda sequence: SubmitSm(sequence_number=sequence,
                                                   destination_addr="1"),
    CommandId.data_sm: lambda sequence: DataSm(sequence_number=sequence, destination_addr="1"),
    CommandId.query_sm: lambda sequence: QuerySm(sequence_number=sequence, message_id="1"),
}
ANSWER_CLASSES = {CommandId.submit_sm_resp: SubmitSmResp, CommandId.data_sm_resp: DataSmResp}


@dataclass(frozen=True)
class AnswerScenario:
    bind: type[Pdu]
    peer_requests: list[tuple[CommandId, int]]
    """What the ESME asked, (command, sequence) each: numbers may repeat."""
    unbind: bool
    """Whether the ESME then unbinds (its unbind_resp waits for the answers)."""
    command_id: int
    answers: list[tuple[int, bytes]]


ANSWER_BODIES = st.sampled_from([b"1\x00", b"1f2e3d\x00", b"\x00"])


@st.composite
def answer_scenarios(draw: st.DrawFn) -> AnswerScenario:
    """Mostly answers to what the ESME asked (often every one of them, in some order, and then
    maybe more), sometimes to numbers it never used."""
    commands = st.sampled_from([CommandId.submit_sm] * 3 + list(PEER_REQUESTS))
    peer_requests = draw(st.lists(st.tuples(commands, st.integers(1, 8)), max_size=6))
    asked = [sequence for _, sequence in peer_requests]
    any_number = st.integers(1, 9)
    every_one = st.permutations(asked).flatmap(
        lambda order: st.lists(any_number, max_size=2).map(lambda more: list(order) + more))
    some = st.lists(st.sampled_from(asked) | any_number if asked else any_number, max_size=8)
    sequences = draw(every_one | some)
    return AnswerScenario(
        bind=draw(st.sampled_from(BIND_REQUESTS)),
        peer_requests=peer_requests,
        unbind=draw(st.booleans()),
        command_id=draw(st.sampled_from([CommandId.submit_sm_resp] * 3
                                        + [CommandId.data_sm_resp])),
        answers=[(sequence, draw(ANSWER_BODIES)) for sequence in sequences],
    )


def answering(scenario: AnswerScenario) -> SmppSession:
    """The SMSC with the scenario's requests of the ESME's open (and its unbind waiting)."""
    session = bound_smsc(scenario.bind, 10)
    for command_id, sequence in scenario.peer_requests:
        session.receive_data(encode(PEER_REQUESTS[command_id](sequence)), 1.0)
    if scenario.unbind:
        session.receive_data(encode(Unbind(sequence_number=99)), 1.0)
    session.events.clear()
    session.data_to_send()
    return session


def answer_pdu(command_id: int, sequence: int, body: bytes) -> Pdu:
    """The answer whose body prebuilt is `body` (a message_id), as a PDU."""
    return ANSWER_CLASSES[command_id](  # type: ignore[index]
        sequence_number=sequence, message_id=body[:-1].decode())


def answer_one_by_one(session: SmppSession, command_id: int,
                      answers: list[tuple[int, bytes]], single: str) -> bool:
    """Answer one at a time; returns whether an answer was refused (those after it unsent)."""
    for sequence, body in answers:
        try:
            if single == "send_prebuilt_answer":
                session.send_prebuilt_answer(command_id, sequence, body)
            elif single == "send_response":
                session.send_response(answer_pdu(command_id, sequence, body))
            else:
                session.send(answer_pdu(command_id, sequence, body), 2.0)
        except LocalProtocolError:
            return True
    return False


@SETTINGS
@given(answer_scenarios(), st.sampled_from(["send_prebuilt_answer", "send_response", "send"]))
def test_a_run_of_answers_sends_what_answering_one_by_one_sends(
    scenario: AnswerScenario, single: str
) -> None:
    run_session, one_session = answering(scenario), answering(scenario)
    closed = run_session.closed  # (an unbind with nothing open to answer closes at once)
    try:
        run_session.send_prebuilt_answers(scenario.command_id, scenario.answers)
        refused = False
    except LocalProtocolError:
        refused = True
    one_refused = answer_one_by_one(one_session, scenario.command_id, scenario.answers, single)
    assert refused == (one_refused if scenario.answers else closed)
    assert run_session.data_to_send() == one_session.data_to_send()
    assert snapshot(run_session) == snapshot(one_session)


# -- a single send, whichever path it takes, against `_send_run` of one ---------------------

def outcome(send: Any) -> tuple[str, Any]:
    """What a send returned, or the error it raised (as text: the same words either way)."""
    try:
        return "returned", send()
    except LocalProtocolError as error:
        return "refused", str(error)


SINGLE_REQUESTS = [
    lambda sequence: PrebuiltDeliverSm(BODIES[1], sequence),
    lambda sequence: _PrebuiltDataSm(DATA_BODIES[0], sequence),
    lambda sequence: DeliverSm(sequence_number=sequence, destination_addr="1"),
    lambda sequence: DataSm(sequence_number=sequence, destination_addr="1"),
    lambda sequence: EnquireLink(sequence_number=sequence),
    lambda sequence: Unbind(sequence_number=sequence),
    lambda sequence: AlertNotification(sequence_number=sequence, source_addr="1",
                                       esme_addr="2"),
    lambda sequence: Outbind(sequence_number=sequence, system_id="acme"),
    lambda sequence: QuerySm(sequence_number=sequence, message_id="1"),  # (an ESME's request)
]
"""Ordinary requests prebuilt and as PDUs, and requests only the general path sends."""


@SETTINGS
@given(request_scenarios, st.integers(0, len(SINGLE_REQUESTS) - 1),
       st.sampled_from([0, 0, 1, 2, 3]))
def test_a_single_request_does_what_a_run_of_it_does(
    scenario: RequestScenario, which: int, sequence: int
) -> None:
    single, general = prepared(scenario), prepared(scenario)
    message, twin = SINGLE_REQUESTS[which](sequence), SINGLE_REQUESTS[which](sequence)
    send = single.send_prebuilt if isinstance(message, Prebuilt) else single.send
    got = outcome(lambda: send(message, 2.0))  # type: ignore[arg-type]
    went = outcome(lambda: general._send_run(twin.command_id, (twin,), 2.0,
                                              not isinstance(twin, Prebuilt)))
    if went == ("returned", 0):  # the run sends none when the window is full: send refuses
        went = ("refused", "window full")
    elif went[0] == "returned":
        went = ("returned", message)
    assert got == went
    assert single.data_to_send() == general.data_to_send()
    assert snapshot(single) == snapshot(general)
    assert message.sequence_number == twin.sequence_number


SINGLE_ANSWERS = [
    (CommandId.submit_sm_resp, True), (CommandId.data_sm_resp, True),
    (CommandId.query_sm_resp, False), (CommandId.generic_nack, False),
    (CommandId.unbind_resp, False), (CommandId.enquire_link_resp, False),
    (CommandId.deliver_sm_resp, False),
]
"""Answers (command, whether it may go prebuilt): usual ones, and those only the general path
sends."""
ANSWER_PDUS = {
    CommandId.submit_sm_resp: lambda q, b: SubmitSmResp(sequence_number=q,
                                                        message_id=b[:-1].decode()),
    CommandId.data_sm_resp: lambda q, b: DataSmResp(sequence_number=q,
                                                    message_id=b[:-1].decode()),
    CommandId.query_sm_resp: lambda q, b: QuerySmResp(sequence_number=q, message_id="1"),
    CommandId.generic_nack: lambda q, b: GenericNack(sequence_number=q, command_status=3),
    CommandId.unbind_resp: lambda q, b: UnbindResp(sequence_number=q),
    CommandId.enquire_link_resp: lambda q, b: EnquireLinkResp(sequence_number=q),
    CommandId.deliver_sm_resp: lambda q, b: DeliverSmResp(sequence_number=q),
}


@SETTINGS
@given(answer_scenarios(), st.sampled_from(SINGLE_ANSWERS),
       st.sampled_from(["send", "send_response", "send_prebuilt_answer"]),
       st.integers(1, 9), ANSWER_BODIES)
def test_a_single_answer_does_what_a_run_of_it_does(
    scenario: AnswerScenario, answer: tuple[CommandId, bool], single: str, sequence: int,
    body: bytes
) -> None:
    command_id, usual = answer
    assume(usual or single != "send_prebuilt_answer")  # (which refuses all but the usual)
    one, general = answering(scenario), answering(scenario)
    if single == "send_prebuilt_answer":
        got = outcome(lambda: one.send_prebuilt_answer(command_id, sequence, body))
        went = outcome(lambda: general._send_run(command_id, ((sequence, body),),
                                                  0.0, False))
        expected = None
    else:
        message = ANSWER_PDUS[command_id](sequence, body)
        send = one.send_response if single == "send_response" else (
            lambda pdu: one.send(pdu, 2.0))
        got = outcome(lambda: send(message))
        went = outcome(lambda: general._send_run(
            command_id, ((sequence, ANSWER_PDUS[command_id](sequence, body)),), 2.0, True))
        expected = message
    if went[0] == "returned":
        went = ("returned", expected)
    assert got == went
    assert one.data_to_send() == general.data_to_send()
    assert snapshot(one) == snapshot(general)


# -- a response that answers nothing open: every variant refuses it alike ----------------------

VARIANTS = {
    "send": lambda s, c, q, b: s.send(answer_pdu(c, q, b), 2.0),
    "send_response": lambda s, c, q, b: s.send_response(answer_pdu(c, q, b)),
    "send_prebuilt_answer": lambda s, c, q, b: s.send_prebuilt_answer(c, q, b),
    "send_prebuilt_answers": lambda s, c, q, b: s.send_prebuilt_answers(c, [(q, b)]),
    "send_prebuilt": lambda s, c, q, b: s.send_prebuilt(PREBUILT_ANSWERS[c](b, q), 2.0),
    "send_prebuilt_run": lambda s, c, q, b: s.send_prebuilt_run([PREBUILT_ANSWERS[c](b, q)],
                                                                2.0),
}
PREBUILT_ANSWERS = {CommandId.submit_sm_resp: PrebuiltSubmitSmResp,
                    CommandId.data_sm_resp: PrebuiltDataSmResp}


@SETTINGS
@given(answer_scenarios(), st.integers(1, 9))
def test_an_answer_to_nothing_open_is_refused_alike_by_every_variant(
    scenario: AnswerScenario, sequence: int
) -> None:
    session = answering(scenario)
    request_id = scenario.command_id & 0x7FFFFFFF
    assume(session._peer_open.get(sequence) != request_id)  # nothing open, or another kind
    assume(not session.closed)
    before = snapshot(session)
    errors = {}
    for name, variant in VARIANTS.items():
        try:
            variant(session, scenario.command_id, sequence, b"1\x00")
        except LocalProtocolError as error:
            errors[name] = str(error)
        assert snapshot(session) == before, name  # nothing sent, nothing changed
    assert set(errors) == set(VARIANTS)
    assert len(set(errors.values())) == 1, errors
