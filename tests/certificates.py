"""A throwaway certificate authority and a server certificate for 127.0.0.1, for TLS tests."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import trustme

from smsc.config import TlsConfig


@dataclass(frozen=True)
class ServerCertificate:
    authority: trustme.CA
    """Clients trust it with `authority.configure_trust(context)`."""
    certfile: Path
    keyfile: Path

    def tls(self, **changes: object) -> TlsConfig:
        """`[server.tls]` serving this certificate on a free port."""
        return TlsConfig(enabled=True, port=0, certfile=str(self.certfile),
                         keyfile=str(self.keyfile), **changes)  # type: ignore[arg-type]


def server_certificate(directory: Path) -> ServerCertificate:
    """A new authority and a certificate it issued for 127.0.0.1, written to `directory`."""
    authority = trustme.CA()
    issued = authority.issue_cert("127.0.0.1", "localhost")
    certfile, keyfile = directory / "cert.pem", directory / "key.pem"
    for index, pem in enumerate(issued.cert_chain_pems):
        pem.write_to_path(str(certfile), append=index > 0)
    issued.private_key_pem.write_to_path(str(keyfile))
    return ServerCertificate(authority, certfile, keyfile)
