"""Throwaway certificate authorities, a server certificate for 127.0.0.1 and client
certificates (mutual TLS), for TLS tests."""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path

import trustme
from cryptography import x509

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


@dataclass(frozen=True)
class ClientCertificate:
    certfile: Path
    keyfile: Path
    subject: str
    """The subject in RFC 4514 form, as the cryptography package writes it."""

    def load_into(self, context: ssl.SSLContext) -> None:
        context.load_cert_chain(str(self.certfile), str(self.keyfile))


def client_certificate(authority: trustme.CA, directory: Path, common_name: str,
                       organization: str | None = None) -> ClientCertificate:
    """A client certificate for `common_name` issued by `authority`, written to `directory`."""
    label = "".join(c if c.isalnum() else "-" for c in common_name)
    issued = authority.issue_cert(f"{label}.clients.example", common_name=common_name,
                                  organization_name=organization)
    certfile = directory / f"{label}.pem"
    keyfile = directory / f"{label}.key"
    for index, pem in enumerate(issued.cert_chain_pems):
        pem.write_to_path(str(certfile), append=index > 0)
    issued.private_key_pem.write_to_path(str(keyfile))
    subject = x509.load_pem_x509_certificate(issued.cert_chain_pems[0].bytes()).subject
    return ClientCertificate(certfile, keyfile, subject.rfc4514_string())


def authority_file(authority: trustme.CA, directory: Path, name: str = "clients-ca.pem") -> Path:
    """`authority`'s certificate as a PEM file (a client_ca bundle)."""
    path = directory / name
    authority.cert_pem.write_to_path(str(path))
    return path
