"""The session's send paths: µs of CPU per PDU (a benchmark, not a test).

Times `SmppSession.send_prebuilt_run` (a round of receipts: deliver_sm prebuilt, numbered
by the session) and `send_prebuilt_answers` (a commit's submit_sm_resp answers) for runs of
`--run` PDUs, and the single-PDU variants over as many PDUs one by one for comparison. Every
loop starts from the same session: the previous loop's requests forgotten (or the peer's
requests open again) and its octets taken, which the figures include (the same work for every
version of the session, so they compare versions fairly; they read a little high).

`--baseline FILE` times another version of smsc/session/session.py beside this one, in the
same process and interleaved with it, so a busy machine slows both alike:

    git show main:smsc/session/session.py > /tmp/session_main.py
    .venv/bin/python benchmarks/session.py --baseline /tmp/session_main.py

Run: .venv/bin/python benchmarks/session.py [--repeat 15] [--number 500] [--run 100]
Prints the median of `repeat` timings (process time) of `number` loops, per PDU.
"""

from __future__ import annotations

import argparse
import importlib.util
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from smsc.pdu import (
    BindTransceiver,
    DeliverSm,
    Pdu,
    PrebuiltDeliverSm,
    SubmitSmResp,
    encode,
    make_response,
)
from smsc.pdu.constants import CommandId
from smsc.session import BindRequested, Role, SessionLimits, SmppSession


def receipt() -> DeliverSm:
    """A delivery receipt as a PDU."""
    return DeliverSm(
        source_addr="4915100000002", destination_addr="4915100000001", esm_class=4,
        short_message=b"id:1f2e3d sub:001 dlvrd:001 submit date:2411241200 done date:"
                      b"2411241200 stat:DELIVRD err:000 text:Your code is 12345")


RECEIPT = encode(receipt())[16:]
"""Its body prebuilt, as `PrebuiltDeliverSm` carries it."""
SUBMIT_SM_RESP = int(CommandId.submit_sm_resp)
SUBMIT_SM = int(CommandId.submit_sm)


def load_session_class(path: str) -> type[SmppSession]:
    """SmppSession as defined in the file at `path` (another version of session.py)."""
    spec = importlib.util.spec_from_file_location("baseline_session", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # (dataclasses look their module up there)
    spec.loader.exec_module(module)
    return module.SmppSession  # type: ignore[no-any-return]


def bound_smsc(cls: type[SmppSession], window: int) -> SmppSession:
    """An SMSC-role session bound as a transceiver, its window `window`."""
    session = cls(Role.SMSC, limits=SessionLimits(window=window, enquire_link_timer=0),
                          now=0.0)
    session.receive_data(encode(BindTransceiver(
        sequence_number=1, system_id="bench", password="pw", interface_version=0x34)), 0.0)
    (event,) = session.events
    assert isinstance(event, BindRequested)
    session.events.clear()
    session.send(make_response(event.message, system_id="SMSC"), 0.0)
    session.events.clear()
    session.data_to_send()
    return session


def requests_loop(cls: type[SmppSession], run: int, number: int,
                  send: Callable[[SmppSession, list[Any]], None],
                  make: Callable[[], Pdu] = lambda: PrebuiltDeliverSm(RECEIPT)) -> float:
    """CPU seconds for `number` loops, each sending `run` fresh receipts through `send`."""
    session = bound_smsc(cls, run)
    batches = [[make() for _ in range(run)] for _ in range(number)]
    outstanding = session._outstanding
    start = time.process_time()
    for batch in batches:
        send(session, batch)
        outstanding.clear()
        session._windowed = 0
        session.data_to_send()
    return time.process_time() - start


def answers_loop(cls: type[SmppSession], run: int, number: int,
                 send: Callable[[SmppSession, list[tuple[int, bytes]]], None]) -> float:
    """CPU seconds for `number` loops, each answering `run` open submit_sm with message ids."""
    session = bound_smsc(cls, run)
    answers = [(sequence, b"%x\x00" % (0x1F2E3D + sequence)) for sequence in range(2, run + 2)]
    reopen = {sequence: SUBMIT_SM for sequence, _ in answers}
    peer_open = session._peer_open
    start = time.process_time()
    for _ in range(number):
        peer_open.update(reopen)
        send(session, answers)
        session.data_to_send()
    return time.process_time() - start


def prebuilt_run(session: SmppSession, batch: list[PrebuiltDeliverSm]) -> None:
    assert session.send_prebuilt_run(batch, 1.0) == len(batch)


def prebuilt_one_by_one(session: SmppSession, batch: list[PrebuiltDeliverSm]) -> None:
    send = session.send_prebuilt
    for message in batch:
        send(message, 1.0)


def sent_one_by_one(session: SmppSession, batch: list[Pdu]) -> None:
    send = session.send
    for message in batch:
        send(message, 1.0)


def built_receipts_loop(cls: type[SmppSession], run: int, number: int,
                        send: Callable[[SmppSession, list[Any]], None]) -> float:
    """`requests_loop` with receipts as PDUs (`send`'s general path: encoded there)."""
    return requests_loop(cls, run, number, send, receipt)


def accepted_run(session: SmppSession, answers: list[tuple[int, bytes]]) -> None:
    session.send_prebuilt_answers(SUBMIT_SM_RESP, answers)


def accepted_one_by_one(session: SmppSession, answers: list[tuple[int, bytes]]) -> None:
    answer = session.send_prebuilt_answer
    for sequence, body in answers:
        answer(SUBMIT_SM_RESP, sequence, body)


def responses_one_by_one(session: SmppSession, answers: list[tuple[int, bytes]]) -> None:
    """send_response of built PDUs (built here too: the general path's usual cost)."""
    send = session.send_response
    for sequence, body in answers:
        send(SubmitSmResp(sequence_number=sequence, message_id=body[:-1].decode()))


CASES: list[tuple[str, Callable[..., float], Callable[..., None]]] = [
    ("send_prebuilt_run", requests_loop, prebuilt_run),
    ("send_prebuilt, one by one", requests_loop, prebuilt_one_by_one),
    ("send_prebuilt_answers", answers_loop, accepted_run),
    ("send_prebuilt_answer, one by one", answers_loop, accepted_one_by_one),
    ("send_response, one by one", answers_loop, responses_one_by_one),
    ("send (DeliverSm), one by one", built_receipts_loop, sent_one_by_one),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--number", type=int, default=500)
    parser.add_argument("--run", type=int, default=100)
    parser.add_argument("--baseline", help="another version of smsc/session/session.py")
    args = parser.parse_args()
    run, number = args.run, args.number
    versions: dict[str, type[SmppSession]] = {"this": SmppSession}
    if args.baseline:
        versions["baseline"] = load_session_class(args.baseline)
    print(f"python {platform.python_version()} on {platform.machine()}, runs of {run}, "
          f"median of {args.repeat} x {number} loops, µs of CPU per PDU")
    timings: dict[tuple[str, str], list[float]] = {}
    order = list(versions)
    for _ in range(args.repeat):  # interleaved: a busy spell slows every case alike
        for name, loop, send in CASES:
            for version in order:
                timings.setdefault((name, version), []).append(
                    loop(versions[version], run, number, send))
        order.reverse()
    per_pdu = {key: statistics.median(values) / (number * run) * 1e6
               for key, values in timings.items()}
    print(f"{'path':<30}" + "".join(f"{version:>12}" for version in versions)
          + ("       this/baseline" if args.baseline else ""))
    for name, _, _ in CASES:
        row = f"{name:<30}" + "".join(f"{per_pdu[(name, v)]:>12.3f}" for v in versions)
        if args.baseline:
            row += f"{per_pdu[(name, 'this')] / per_pdu[(name, 'baseline')]:>20.3f}"
        print(row)


if __name__ == "__main__":
    main()
