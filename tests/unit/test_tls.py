"""emulation/tls.py: the openssl argv builders, and the certificates they make when run."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from voipbed.emulation.tls import (
    CertificateFiles,
    TlsUnavailable,
    ca_argv,
    extensions,
    make_certificates,
    request_argv,
    sign_argv,
    tls_files,
)

RUN = Path("/runs/r1/tls")


def option(argv: list[str], flag: str) -> str:
    """The value following ``flag`` in ``argv``."""
    assert argv.count(flag) == 1, f"{flag} appears {argv.count(flag)} times in {argv}"
    return argv[argv.index(flag) + 1]


def test_files_are_named_inside_the_given_folder() -> None:
    """Every file of the run's TLS material is in its folder; the bundles are separate."""
    files = tls_files(RUN)
    pairs: tuple[CertificateFiles, ...] = (files.server, files.user_agents)
    paths = [files.ca_certificate, files.ca_key]
    paths += [path for pair in pairs for path in (pair.certificate, pair.key, pair.bundle)]
    assert all(path.parent == RUN for path in paths)
    assert len(set(paths)) == len(paths)


def test_ca_argv_makes_a_self_signed_ca_with_an_ec_key() -> None:
    """The CA is a self-signed, unencrypted EC P-256 key and certificate, marked as a CA."""
    files = tls_files(RUN)
    argv = ca_argv(files, days=3)
    assert argv[:3] == ["openssl", "req", "-x509"]
    assert option(argv, "-newkey") == "ec"
    assert option(argv, "-pkeyopt") == "ec_paramgen_curve:prime256v1"
    assert "-nodes" in argv
    assert option(argv, "-keyout") == str(files.ca_key)
    assert option(argv, "-out") == str(files.ca_certificate)
    assert option(argv, "-days") == "3"
    assert "basicConstraints=critical,CA:TRUE" in argv
    with pytest.raises(ValueError, match="days"):
        ca_argv(files, days=0)


def test_request_and_sign_argv_issue_a_certificate_from_the_ca() -> None:
    """A key and CSR for the name, then signed by the run's CA with the extensions file."""
    files = tls_files(RUN)
    csr, ext = RUN / "sip-core.csr", RUN / "sip-core.ext"
    request = request_argv(files.server, csr, "10.0.0.1")
    assert request[:3] == ["openssl", "req", "-new"]
    assert option(request, "-keyout") == str(files.server.key)
    assert option(request, "-subj") == "/O=voipbed/CN=10.0.0.1"
    sign = sign_argv(files, files.server, csr, ext, 7)
    assert sign[:3] == ["openssl", "x509", "-req"]
    assert option(sign, "-CA") == str(files.ca_certificate)
    assert option(sign, "-CAkey") == str(files.ca_key)
    assert option(sign, "-set_serial") == "7"
    assert option(sign, "-extfile") == str(ext)
    assert option(sign, "-out") == str(files.server.certificate)
    with pytest.raises(ValueError, match="serial"):
        sign_argv(files, files.server, csr, ext, 0)
    with pytest.raises(ValueError, match="common name"):
        request_argv(files.server, csr, "a/b")


def test_extensions_name_every_address_and_the_usage() -> None:
    """Addresses are subjectAltName IP entries (IPv6 too); the server's is serverAuth only."""
    server = extensions(("10.0.0.1",), server=True)
    assert "subjectAltName=IP:10.0.0.1\n" in server
    assert "extendedKeyUsage=serverAuth\n" in server
    assert "CA:FALSE" in server
    agents = extensions(("10.0.0.2", "fd00::2"), server=False)
    assert "subjectAltName=IP:10.0.0.2,IP:fd00::2\n" in agents
    assert "extendedKeyUsage=serverAuth,clientAuth\n" in agents
    with pytest.raises(ValueError):
        extensions(("core",), server=True)
    with pytest.raises(ValueError, match="at least one"):
        extensions((), server=True)


def test_without_openssl_it_says_so(tmp_path: Path) -> None:
    """A missing openssl command is named before anything is written."""
    with pytest.raises(TlsUnavailable, match="not installed"):
        make_certificates(tmp_path / "tls", "10.0.0.1", ("10.0.0.2",), binary="no-such-openssl")
    assert not (tmp_path / "tls").exists()


def test_made_certificates_verify_against_the_run_ca(tmp_path: Path) -> None:
    """Run for real: both certificates chain to the CA and carry their addresses; keys and
    bundles are readable by the owner only."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    files = make_certificates(tmp_path / "tls", "10.0.0.1", ("10.0.0.11", "10.0.0.2", "10.0.0.2"))

    def openssl(*args: str) -> str:
        return subprocess.run(
            ["openssl", *args], capture_output=True, text=True, check=True, timeout=10
        ).stdout

    for pair in (files.server, files.user_agents):
        verified = openssl("verify", "-CAfile", str(files.ca_certificate), str(pair.certificate))
        assert verified.strip().endswith(": OK")
        bundle = pair.bundle.read_text()
        assert "BEGIN CERTIFICATE" in bundle and "PRIVATE KEY" in bundle
        assert pair.key.stat().st_mode & 0o077 == 0
        assert pair.bundle.stat().st_mode & 0o077 == 0
    server = openssl(
        "x509", "-in", str(files.server.certificate), "-noout", "-ext", "subjectAltName"
    )
    assert "IP Address:10.0.0.1" in server
    agents = openssl(
        "x509", "-in", str(files.user_agents.certificate), "-noout", "-ext", "subjectAltName"
    )
    assert agents.count("IP Address:10.0.0.2") == 1 and "IP Address:10.0.0.11" in agents
    ip_check = openssl(
        "verify",
        "-CAfile",
        str(files.ca_certificate),
        "-verify_ip",
        "10.0.0.1",
        str(files.server.certificate),
    )
    assert ip_check.strip().endswith(": OK")
