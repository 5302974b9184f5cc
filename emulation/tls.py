"""Throwaway certificates for SIP over TLS in one run: a CA, the SIP core's and the UAs'.

Each run makes its own certificate authority and signs with it a server certificate for the
SIP core's address (Kamailio's TLS listener) and one certificate for the user agents (each
baresip also listens for TLS, since Kamailio opens a TLS connection to a registered contact
to deliver an INVITE; a TLS server cannot do without a certificate). The files go into the
run's folder and die with it; the CA key signs nothing else.

Who checks what:

- baresip is given the CA (``sip_cafile``). baresip 1.0 never calls libre's
  ``tls_set_verify_server``, so it does not fail a handshake on a certificate it cannot
  verify: the CA is what a verifying client would need, not what makes the call work.
- Kamailio neither asks for nor checks client certificates (``verify_certificate = no``,
  ``require_certificate = no`` in its tls.cfg), as a registrar of handsets usually does;
  it does not check the UAs' certificates when it connects to them either.

The argv builders are pure; :func:`make_certificates` runs them with the ``openssl`` command
(OpenSSL 1.1 or 3). Keys are EC P-256: generated in milliseconds, unlike RSA.
"""

from __future__ import annotations

import ipaddress
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from voipbed.emulation.process import run_command

__all__ = [
    "OPENSSL_BINARY",
    "CertificateFiles",
    "TlsFiles",
    "TlsUnavailable",
    "ca_argv",
    "extensions",
    "make_certificates",
    "request_argv",
    "sign_argv",
    "tls_files",
]

OPENSSL_BINARY = "openssl"
CURVE = "prime256v1"  # NIST P-256 (RFC 5480 secp256r1): every TLS 1.2 stack takes it
VALID_DAYS = 2  # a run lasts minutes; two days covers a clock a day apart
COMMAND_TIMEOUT_S = 10.0
CA_SUBJECT = "/O=voipbed/CN=voipbed throwaway CA"


class TlsUnavailable(RuntimeError):
    """Certificates cannot be made here (no ``openssl`` command)."""


@dataclass(frozen=True)
class CertificateFiles:
    """A certificate and its private key, both PEM; ``bundle`` has both in one file (what
    baresip's ``sip_certificate`` takes: libre reads the chain and the key from one file)."""

    certificate: Path
    key: Path
    bundle: Path


@dataclass(frozen=True)
class TlsFiles:
    """Where a run's TLS material lives: the CA, the SIP core's and the UAs' certificates."""

    directory: Path
    ca_certificate: Path
    ca_key: Path
    server: CertificateFiles
    user_agents: CertificateFiles


def tls_files(directory: Path) -> TlsFiles:
    """The file names of a run's TLS material in ``directory`` (nothing is written)."""

    def pair(name: str) -> CertificateFiles:
        return CertificateFiles(
            certificate=directory / f"{name}.pem",
            key=directory / f"{name}.key",
            bundle=directory / f"{name}-bundle.pem",
        )

    return TlsFiles(
        directory=directory,
        ca_certificate=directory / "ca.pem",
        ca_key=directory / "ca.key",
        server=pair("sip-core"),
        user_agents=pair("user-agents"),
    )


def _ec_key_options() -> list[str]:
    return ["-newkey", "ec", "-pkeyopt", f"ec_paramgen_curve:{CURVE}", "-nodes"]


def ca_argv(files: TlsFiles, *, days: int = VALID_DAYS, binary: str = OPENSSL_BINARY) -> list[str]:
    """The argv making the self-signed CA certificate and its key."""
    _check_days(days)
    return [
        binary,
        "req",
        "-x509",
        *_ec_key_options(),
        "-keyout",
        str(files.ca_key),
        "-out",
        str(files.ca_certificate),
        "-days",
        str(days),
        "-subj",
        CA_SUBJECT,
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
    ]


def request_argv(
    pair: CertificateFiles, csr: Path, common_name: str, *, binary: str = OPENSSL_BINARY
) -> list[str]:
    """The argv making a key and a certificate signing request for ``common_name``."""
    if not common_name or "/" in common_name:
        raise ValueError(f"common name must be non-empty and without '/', got {common_name!r}")
    return [
        binary,
        "req",
        "-new",
        *_ec_key_options(),
        "-keyout",
        str(pair.key),
        "-out",
        str(csr),
        "-subj",
        f"/O=voipbed/CN={common_name}",
    ]


def extensions(addresses: tuple[str, ...], *, server: bool) -> str:
    """The X.509v3 extensions (an ``-extfile``) of an end-entity certificate for
    ``addresses`` (subjectAltName IP entries, RFC 5280 4.2.1.6; RFC 5922 7.1 has SIP
    clients match the server's subjectAltName)."""
    if not addresses:
        raise ValueError("a certificate needs at least one address")
    names = ",".join(f"IP:{ipaddress.ip_address(a)}" for a in addresses)
    usage = "serverAuth" if server else "serverAuth,clientAuth"  # UAs are both
    return (
        "basicConstraints=critical,CA:FALSE\n"
        "keyUsage=critical,digitalSignature,keyAgreement\n"
        f"extendedKeyUsage={usage}\n"
        f"subjectAltName={names}\n"
    )


def sign_argv(
    files: TlsFiles,
    pair: CertificateFiles,
    csr: Path,
    extfile: Path,
    serial: int,
    *,
    days: int = VALID_DAYS,
    binary: str = OPENSSL_BINARY,
) -> list[str]:
    """The argv signing ``csr`` with the run's CA into ``pair.certificate``."""
    _check_days(days)
    if serial < 1:
        raise ValueError(f"serial must be positive (RFC 5280 4.1.2.2), got {serial}")
    return [
        binary,
        "x509",
        "-req",
        "-in",
        str(csr),
        "-CA",
        str(files.ca_certificate),
        "-CAkey",
        str(files.ca_key),
        "-set_serial",
        str(serial),
        "-days",
        str(days),
        "-extfile",
        str(extfile),
        "-out",
        str(pair.certificate),
    ]


def _check_days(days: int) -> None:
    if days < 1:
        raise ValueError(f"days must be >= 1, got {days}")


def make_certificates(
    directory: Path,
    server_address: str,
    user_agent_addresses: tuple[str, ...],
    *,
    binary: str = OPENSSL_BINARY,
    timeout_s: float = COMMAND_TIMEOUT_S,
) -> TlsFiles:
    """Make a CA in ``directory`` and sign with it the SIP core's certificate (for
    ``server_address``) and the user agents' (for ``user_agent_addresses``); return the
    files. Raises TlsUnavailable without ``openssl``, ProcessError if a command fails."""
    if shutil.which(binary) is None:
        raise TlsUnavailable(f"{binary} is not installed (Debian: apt-get install openssl)")
    files = tls_files(directory)
    directory.mkdir(parents=True, exist_ok=True)
    run_command(ca_argv(files, binary=binary), timeout_s=timeout_s)
    for serial, (pair, addresses, server) in enumerate(
        (
            (files.server, (server_address,), True),
            (files.user_agents, tuple(dict.fromkeys(user_agent_addresses)), False),
        ),
        start=1,
    ):
        csr = pair.certificate.with_suffix(".csr")
        extfile = pair.certificate.with_suffix(".ext")
        extfile.write_text(extensions(addresses, server=server))
        run_command(request_argv(pair, csr, addresses[0], binary=binary), timeout_s=timeout_s)
        run_command(
            sign_argv(files, pair, csr, extfile, serial, binary=binary), timeout_s=timeout_s
        )
        pair.bundle.write_text(pair.certificate.read_text() + pair.key.read_text())
    for key in (files.ca_key, files.server.key, files.user_agents.key, files.user_agents.bundle):
        os.chmod(key, 0o600)
    os.chmod(files.server.bundle, 0o600)
    return files
