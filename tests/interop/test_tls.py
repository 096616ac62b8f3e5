"""SMPP over TLS (trio.SSLStream) beside the plain listener, with a throwaway CA (trustme)."""

from __future__ import annotations

import dataclasses
import ssl
from pathlib import Path
from typing import Any

import trio
import trustme

from smsc.config import TlsConfig
from smsc.pdu import DeliverSm, SubmitSm
from smsc.pdu.constants import CommandStatus

from ..certificates import server_certificate
from ..esme import Esme


async def test_bind_submit_and_receipt_over_tls(
    make_config: Any, start_smsc: Any, tmp_path: Path
) -> None:
    authority = trustme.CA()
    server_cert = authority.issue_cert("127.0.0.1", "localhost")
    certfile, keyfile = tmp_path / "cert.pem", tmp_path / "key.pem"
    server_cert.cert_chain_pems[0].write_to_path(str(certfile))
    for pem in server_cert.cert_chain_pems[1:]:
        pem.write_to_path(str(certfile), append=True)
    server_cert.private_key_pem.write_to_path(str(keyfile))
    config = make_config()
    tls = TlsConfig(enabled=True, port=0, certfile=str(certfile), keyfile=str(keyfile))
    config = dataclasses.replace(config, server=dataclasses.replace(config.server, tls=tls))
    running = await start_smsc(config)
    assert running.tls_port and running.smpp_port

    client_context = ssl.create_default_context()
    authority.configure_trust(client_context)
    stream = await trio.open_ssl_over_tcp_stream(
        "127.0.0.1", running.tls_port, ssl_context=client_context
    )
    esme = Esme(stream)
    with trio.fail_after(10):
        assert (await esme.bind()).command_status == CommandStatus.ESME_ROK
        resp = await esme.request(SubmitSm(destination_addr="4915100000002",
                                           registered_delivery=1, short_message=b"secret"))
        receipt = await esme.next_request()
    assert isinstance(receipt, DeliverSm)
    assert receipt.receipted_message_id == resp.message_id  # type: ignore[attr-defined]
    await stream.aclose()
    running.shutdown.set()


async def test_plain_client_on_the_tls_port_is_dropped(
    make_config: Any, start_smsc: Any, tmp_path: Path
) -> None:
    config = make_config()
    tls = server_certificate(tmp_path).tls(plain_enabled=False)
    config = dataclasses.replace(config, server=dataclasses.replace(config.server, tls=tls))
    running = await start_smsc(config)
    assert running.smpp_port == 0  # no plain listener
    stream = await trio.open_tcp_stream("127.0.0.1", running.tls_port)
    await stream.send_all(bytes.fromhex("00000010000000150000000000000001"))
    with trio.fail_after(10):
        try:
            data = await stream.receive_some(100)
        except trio.BrokenResourceError:
            data = b""
    assert not data.startswith(bytes.fromhex("0000001080000015"))  # no SMPP answer in clear
    await stream.aclose()
    running.shutdown.set()
