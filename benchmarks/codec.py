"""Codec speed: decodes and encodes per second on one core (a benchmark, not a test).

Run: .venv/bin/python benchmarks/codec.py [--repeat 7] [--number 50000]
Prints the median of `repeat` timings for the generated fast path and, for comparison, the
construct path the fast path is derived from.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import timeit
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from smsc.pdu import (
    DeliverSm,
    SubmitSm,
    SubmitSmResp,
    decode,
    decode_with_construct,
    encode,
    encode_with_construct,
)
from smsc.pdu.constants import Tag

SAMPLES = {
    "submit_sm": SubmitSm(
        sequence_number=7, source_addr_ton=1, source_addr_npi=1, source_addr="4915100000001",
        dest_addr_ton=1, dest_addr_npi=1, destination_addr="4915100000002",
        registered_delivery=1, short_message=b"Your code is 123456. It expires in 5 minutes.",
    ),
    "submit_sm+tlvs": SubmitSm(
        sequence_number=7, source_addr="4915100000001", destination_addr="4915100000002",
        registered_delivery=1, short_message=b"part one of a long message",
        tlvs={Tag.sar_msg_ref_num: 42, Tag.sar_total_segments: 2, Tag.sar_segment_seqnum: 1,
              Tag.user_message_reference: 9},
    ),
    "deliver_sm receipt": DeliverSm(
        sequence_number=9, source_addr="4915100000002", destination_addr="4915100000001",
        esm_class=4,
        short_message=b"id:1f2e3d sub:001 dlvrd:001 submit date:2411241200 done date:2411241200"
                      b" stat:DELIVRD err:000 text:Your code is 12345",
        tlvs={Tag.receipted_message_id: "1f2e3d", Tag.message_state: 2},
    ),
    "submit_sm_resp": SubmitSmResp(sequence_number=7, message_id="1f2e3d"),
}


def rate(function: Callable[[Any], Any], argument: Any, repeat: int, number: int) -> float:
    timings = timeit.repeat(lambda: function(argument), repeat=repeat, number=number)
    return number / statistics.median(timings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--number", type=int, default=50000)
    args = parser.parse_args()
    print(f"python {platform.python_version()} on {platform.machine()}, "
          f"median of {args.repeat} x {args.number}")
    print(f"{'PDU':<20}{'decode/s':>12}{'encode/s':>12}{'construct dec/s':>17}"
          f"{'construct enc/s':>17}")
    slow = max(args.number // 20, 500)
    for name, pdu in SAMPLES.items():
        data = encode(pdu)
        print(
            f"{name:<20}"
            f"{rate(decode, data, args.repeat, args.number):>12,.0f}"
            f"{rate(encode, pdu, args.repeat, args.number):>12,.0f}"
            f"{rate(decode_with_construct, data, args.repeat, slow):>17,.0f}"
            f"{rate(encode_with_construct, pdu, args.repeat, slow):>17,.0f}"
        )


if __name__ == "__main__":
    main()
