"""`esme send`, `esme listen` and `esme bench --json` as processes against a running SMSC."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
from typing import Any

import pytest
import trio

from smsc.config import AccountConfig
from smsc.pdu import CommandId
from tests.processes import Output, launched

ESME = [sys.executable, "-m", "esme_client"]


async def esme(*args: str | int, timeout: float = 30) -> subprocess.CompletedProcess[bytes]:
    with trio.fail_after(timeout):
        return await trio.run_process([*ESME, *map(str, args)], capture_stdout=True,
                                      capture_stderr=True, check=False)


async def test_send_prints_the_message_id_and_the_receipt(smsc: Any) -> None:
    done = await esme("send", "4915100000002", "Hello there", "--port", smsc.smpp_port,
                      "--wait-receipt", "--timeout", 10)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.decode().splitlines()
    assert lines[0].startswith("message_id: ")
    message_id = lines[0].split(": ")[1]
    assert lines[1].startswith(f"receipt {message_id}: DELIVRD (DELIVERED)")


async def test_send_json_long_ucs2_and_hex(smsc: Any) -> None:
    done = await esme("send", "4915100000002", "Привет! " * 20, "--port", smsc.smpp_port,
                      "--json", "--wait-receipt", "--scheme", "sar")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["data_coding"] == 8 and report["parts"] == 3
    assert [r["message_id"] for r in report["receipts"]] == report["message_ids"]
    assert {r["state"] for r in report["receipts"]} == {"DELIVERED"}
    done = await esme("send", "4915100000002", "00ff10", "--hex", "--port", smsc.smpp_port,
                      "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["data_coding"] == 4


async def test_send_reports_refusals_with_their_status(smsc: Any) -> None:
    done = await esme("send", "4915100000002", "x", "--port", smsc.smpp_port,
                      "--password", "wrong")
    assert done.returncode == 1
    assert b"ESME_RINVPASWD" in done.stderr
    done = await esme("send", "4915100000002", "Привет", "--encoding", "gsm", "--port",
                      smsc.smpp_port)
    assert done.returncode == 2 and done.stderr.startswith(b"esme: ")


async def test_listen_prints_mo_and_receipts_as_json_lines(smsc: Any) -> None:
    from esme_client import connect

    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            process = await nursery.start(lambda task_status=trio.TASK_STATUS_IGNORED: (
                trio.run_process([*ESME, "listen", "--port", str(smsc.smpp_port), "--json",
                                  "--count", "3"], stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, check=False,
                                 task_status=task_status)))
            seen = b""
            while b"bound as receiver" not in seen:
                chunk = await process.stderr.receive_some(1024)
                assert chunk, seen
                seen += chunk
            await smsc.mobile.send_text("4915100000001", "4242", "STOP")
            await smsc.mobile.send_text("4915100000009", "4242", "Grüße " * 40)
            async with connect("127.0.0.1", smsc.smpp_port, mode="transmitter") as client:
                sent = await client.submit_text("4915100000002", "hi", registered_delivery=1)
            output = b""
            while chunk := await process.stdout.receive_some(65536):
                output += chunk
            await process.wait()
    assert process.returncode == 0
    events = [json.loads(line) for line in output.decode().splitlines()]
    mo = [e for e in events if e["type"] == "mo"]
    receipts = [e for e in events if e["type"] == "receipt"]
    assert [(e["source_addr"], e["text"]) for e in mo] == [
        ("4915100000001", "STOP"), ("4915100000009", "Grüße " * 40)]
    assert mo[1]["parts"] > 1
    assert [(r["message_id"], r["stat"]) for r in receipts] == [(sent.message_id, "DELIVRD")]


async def test_listen_human_output(smsc: Any) -> None:
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            process = await nursery.start(lambda task_status=trio.TASK_STATUS_IGNORED: (
                trio.run_process([*ESME, "listen", "--port", str(smsc.smpp_port),
                                  "--count", "1"], stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, check=False,
                                 task_status=task_status)))
            seen = b""
            while b"bound as receiver" not in seen:
                chunk = await process.stderr.receive_some(1024)
                assert chunk, seen
                seen += chunk
            await smsc.mobile.send_text("4915100000001", "4242", "hello")
            output = b""
            while chunk := await process.stdout.receive_some(65536):
                output += chunk
            await process.wait()
    assert output.decode().rstrip().endswith("MO 4915100000001 -> 4242: hello")


def check_latencies(values: dict[str, float]) -> None:
    assert 0 <= values["p50"] <= values["p90"] <= values["p99"] <= values["max"]


async def test_bench_json_with_receipts(smsc: Any) -> None:
    done = await esme("bench", "--port", smsc.smpp_port, "-n", 300, "-c", 2, "-w", 10,
                      "--receipts", "--destinations", 7, "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["submitted"] == report["responses"] == 300
    assert report["statuses"] == {"ESME_ROK": 300}
    assert report["receipts"] == 300 and report["receipts_missing"] == 0
    assert report["receipt_states"] == {"DELIVERED": 300}
    assert report["workload"]["destinations"] == 7
    assert report["unanswered"] == report["unmatched"] == 0 and report["errors"] == []
    check_latencies(report["submit_latency_ms"])
    check_latencies(report["receipt_latency_ms"])
    assert report["submit_rate"] > 0 and report["receipt_rate"] > 0
    assert report["workload"]["connections"] == 2


async def test_bench_counts_every_status(make_config: Any, start_smsc: Any) -> None:
    running = await start_smsc(make_config(accounts=(
        AccountConfig(submit_rate=1, submit_burst=20),)))
    done = await esme("bench", "--port", running.smpp_port, "-n", 200, "-w", 50, "--size", 200,
                      "--encoding", "ucs2", "--json", "--processes", 1)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    statuses = report["statuses"]
    assert sum(statuses.values()) == report["responses"] == report["submitted"]
    assert report["submitted"] % report["workload"]["parts_per_message"] == 0
    assert statuses["ESME_ROK"] >= 1 and statuses["ESME_RTHROTTLED"] >= 1
    running.shutdown.set()


async def test_bench_human_report_and_bad_bind(smsc: Any) -> None:
    done = await esme("bench", "--port", smsc.smpp_port, "-n", 50, "-c", 2, "-p", 2)
    assert done.returncode == 0, done.stderr
    text = done.stdout.decode()
    assert "submitted 50, answered 50" in text and "ESME_ROK 50" in text
    assert "submit_sm_resp latency ms: p50" in text
    done = await esme("bench", "--port", smsc.smpp_port, "-n", 50, "--password", "nope",
                      "--json")
    assert done.returncode == 3
    assert "ESME_RINVPASWD" in json.loads(done.stdout)["errors"][0]


async def test_listen_unbinds_and_exits_on_sigterm(smsc: Any) -> None:
    import signal

    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            process = await nursery.start(lambda task_status=trio.TASK_STATUS_IGNORED: (
                trio.run_process([*ESME, "listen", "--port", str(smsc.smpp_port)],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False,
                                 task_status=task_status)))
            seen = b""
            while b"bound as receiver" not in seen:
                chunk = await process.stderr.receive_some(1024)
                assert chunk, seen
                seen += chunk
            [link] = list(smsc.links)
            process.send_signal(signal.SIGTERM)
            await link.wait_closed()
            await process.wait()
    assert process.returncode == 0
    assert link.close_reason == "unbind received"


async def test_send_and_bench_over_tls(make_config: Any, start_smsc: Any, tmp_path: Any) -> None:
    import dataclasses

    import trustme

    from smsc.config import TlsConfig

    authority = trustme.CA()
    cert = authority.issue_cert("127.0.0.1")
    certfile, keyfile, cafile = tmp_path / "c.pem", tmp_path / "k.pem", tmp_path / "ca.pem"
    cert.cert_chain_pems[0].write_to_path(str(certfile))
    cert.private_key_pem.write_to_path(str(keyfile))
    authority.cert_pem.write_to_path(str(cafile))
    config = make_config()
    tls = TlsConfig(enabled=True, port=0, certfile=str(certfile), keyfile=str(keyfile))
    running = await start_smsc(dataclasses.replace(
        config, server=dataclasses.replace(config.server, tls=tls)))
    done = await esme("send", "4915100000002", "secret", "--port", running.tls_port, "--tls",
                      "--cafile", cafile, "--wait-receipt")
    assert done.returncode == 0, done.stderr
    assert b"DELIVRD" in done.stdout
    done = await esme("bench", "--port", running.tls_port, "--tls", "--cafile", cafile,
                      "-n", 100, "-c", 2, "--receipts", "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["statuses"] == {"ESME_ROK": 100} and report["receipts"] == 100
    running.shutdown.set()


# -- how a bench run ends ------------------------------------------------------------------


async def until_counted(output: Output, label: str) -> None:
    """Read until the progress bar shows a `label N` with N above 0 (the run got going)."""
    pattern = re.compile(label.encode() + rb" ([\d,]+)")
    while not any(int(found[1].replace(b",", b"")) > 0
                  for found in pattern.finditer(output.data)):
        chunk = await output.stream.receive_some(65536)
        assert chunk, output.text
        output.data += chunk


@pytest.mark.parametrize(("signum", "processes"), [(signal.SIGINT, 1), (signal.SIGTERM, 2)],
                         ids=["SIGINT", "SIGTERM-2-processes"])
async def test_bench_stops_on_a_signal_unbinds_and_reports(
        smsc: Any, signum: signal.Signals, processes: int) -> None:
    with trio.fail_after(60):
        async with launched([*ESME, "bench", "--port", smsc.smpp_port, "-d", 120, "-c", 2,
                             "-p", processes, "--receipts", "--progress", "on",
                             "--json"]) as bench:
            await until_counted(bench.stderr, "answered")
            bench.process.send_signal(signum)
            code = await bench.finish()
    assert code == 128 + signum, bench.stderr.text
    report = json.loads(bench.stdout.data)
    assert report["interrupted"] == signum.name and report["exit_code"] == 128 + signum
    assert report["responses"] == report["submitted"] > 0 and report["unanswered"] == 0
    assert report["errors"] == []
    assert smsc.metrics.pdus_received[CommandId.unbind] == 2  # each connection unbound
    assert bench.stderr.text.splitlines()[-1] == (
        f"esme: interrupted by {signum.name}; the report covers what was done until then")


async def test_bench_exits_at_once_on_a_second_signal(smsc: Any) -> None:
    # 447700900800: stored but never answered, so the stopped run waits for its answers
    with trio.fail_after(60):
        async with launched([*ESME, "bench", "--port", smsc.smpp_port, "-n", 1000, "-w", 10,
                             "--destination", "447700900800", "--progress", "on"]) as bench:
            await until_counted(bench.stderr, "sent")
            bench.process.send_signal(signal.SIGINT)
            await bench.stderr.until(b"stopping; waiting up to")
            bench.process.send_signal(signal.SIGINT)
            code = await bench.finish()
    assert code == 130
    assert bench.stdout.data == b""  # no report: it did not wait
    assert bench.stderr.text.splitlines()[-1] == "esme: SIGINT again: exiting without unbinding"


async def test_bench_fails_at_once_when_the_smsc_unbinds(make_config: Any,
                                                         start_smsc: Any) -> None:
    running = await start_smsc(make_config())
    # well within the run's 120 s and its receipt timeout: it does not wait on a dead link
    with trio.fail_after(30):
        async with launched([*ESME, "bench", "--port", running.smpp_port, "-d", 120,
                             "--receipts", "--receipt-timeout", 120, "--progress", "on",
                             "--json"]) as bench:
            await until_counted(bench.stderr, "answered")
            running.shutdown.set()
            code = await bench.finish()
    assert code == 3, bench.stderr.text
    report = json.loads(bench.stdout.data)
    assert report["errors"] == ["the SMSC unbound"] and report["exit_code"] == 3
    assert bench.stderr.text.splitlines()[-1].startswith("esme: the SMSC unbound")


async def test_bench_fails_when_a_submit_goes_unanswered_or_a_receipt_is_missing(
        smsc: Any) -> None:
    # 447700900800: never answered; 447700900200: never reachable, so no final receipt
    done = await esme("bench", "--port", smsc.smpp_port, "-n", 20, "-w", 5,
                      "--destination", "447700900800", "--response-timeout", 0.5)
    assert done.returncode == 4, done.stderr
    assert "unanswered requests 5" in done.stdout.decode()
    assert done.stderr.decode().splitlines()[-1] == "esme: 5 submit_sm unanswered"
    done = await esme("bench", "--port", smsc.smpp_port, "-n", 10, "--receipts",
                      "--receipt-timeout", 0.5, "--destination", "447700900200", "--json")
    assert done.returncode == 4, done.stderr
    report = json.loads(done.stdout)
    assert report["responses"] == 10 and report["receipts_missing"] == 10
    assert report["failure"] == "10 receipts missing"
    assert done.stderr.decode().splitlines()[-1] == "esme: 10 receipts missing"


async def test_send_says_the_timeout_as_given(smsc: Any) -> None:
    done = await esme("send", "447700900200", "never", "--port", smsc.smpp_port,
                      "--wait-receipt", "--timeout", 0.3)
    assert done.returncode == 4
    assert re.fullmatch(r"esme: no receipt for \S+ within 0\.3 s\n", done.stderr.decode())


def test_version_and_help() -> None:
    done = subprocess.run([*ESME, "--version"], capture_output=True, text=True, timeout=60,
                          check=False)
    assert done.returncode == 0 and re.fullmatch(r"esme \d+\.\d+\.\d+\S*\n", done.stdout)
    help_text = subprocess.run([*ESME, "bench", "--help"], capture_output=True, text=True,
                               timeout=60, check=False).stdout
    for shown in ("(default: 127.0.0.1)", "(default: 2775)", "(default: smppclient1)",
                  "(default: password)", "examples:", "exit codes:"):
        assert shown in help_text


@pytest.mark.parametrize(("flag", "version"), [((), "3.4"), (("--smpp-version", "5.0"), "5.0"),
                                               (("--smpp-version", "3.3"), "3.3")])
async def test_send_binds_at_the_smpp_version_asked(smsc: Any, flag: tuple[str, ...],
                                                    version: str) -> None:
    done = await esme("send", "4915100000002", "hi", "--port", smsc.smpp_port, "--json", *flag)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["smpp_version"] == version
