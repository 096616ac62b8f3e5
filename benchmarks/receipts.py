"""Receipt building speed: PDUs built (and encoded) per second on one core, per dialect.

Run: .venv/bin/python benchmarks/receipts.py [--repeat 7] [--number 50000]
Times the CPU (process time) of building the deliver_sm for one delivered message's receipt,
as the outbound dispatcher does, with the default Appendix B dialect and a few others.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
import timeit
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from smsc.config import ReceiptDialectConfig
from smsc.pdu import encode
from smsc.pdu.constants import MessageState
from smsc.receipts import ReceiptDialects
from smsc.store import Message, NewMessage, OutboundItem, OutboundKind

NOW = datetime(2026, 12, 2, 2, 30, 12, tzinfo=UTC)
MESSAGE = Message(
    0x1F2E3D,
    NewMessage(system_id="bench", source_addr="4915100000001",
               destination_addr="4915100000002", registered_delivery=1, submitted_at=NOW,
               payload=b"Your code is 123456. It expires in 5 minutes."),
    MessageState.DELIVERED, 1, None, NOW, None,
)
ITEM = OutboundItem(1, "bench", OutboundKind.RECEIPT, MESSAGE)
DIALECTS = {
    "appendix_b (default)": ReceiptDialectConfig(),
    "decimal ids, 14-digit dates, upper case": ReceiptDialectConfig(
        name="b", id_format="decimal", id_width=10, date_format="yyyymmddhhmmss",
        label_case="upper"),
    "TLV-only": ReceiptDialectConfig(name="c", text=False),
    "data_sm": ReceiptDialectConfig(name="d", pdu="data_sm"),
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--number", type=int, default=50000)
    args = parser.parse_args()
    print(f"Python {platform.python_version()} on {platform.machine()}; "
          f"median of {args.repeat} x {args.number}, process time")
    print(f"{'dialect':42} {'build/s':>10} {'build+encode/s':>15}")
    for name, config in DIALECTS.items():
        # as the dispatcher does it: pick the message's dialect, then build
        dialects = ReceiptDialects((config,), accounts={"bench": config.name}, networks={})

        def build(dialects: ReceiptDialects = dialects) -> object:
            return dialects.for_message(MESSAGE).build(ITEM, with_tlvs=True, now=NOW)

        def build_encode(dialects: ReceiptDialects = dialects) -> bytes:
            pdu = dialects.for_message(MESSAGE).build(ITEM, with_tlvs=True, now=NOW)
            assert pdu is not None
            return encode(pdu)

        rates = []
        for function in (build, build_encode):
            timings = timeit.repeat(function, repeat=args.repeat, number=args.number,
                                    timer=time.process_time)
            rates.append(args.number / statistics.median(timings))
        print(f"{name:42} {rates[0]:>10,.0f} {rates[1]:>15,.0f}")


if __name__ == "__main__":
    main()
