"""HTTPS: a CA given with --ca-file is trusted, an unknown certificate is refused with the next step, and
--insecure skips verification. A small TLS-terminating proxy on 127.0.0.1 stands in front of the plain
registry (tests/support's RegistryProcess probes readiness over plain HTTP, so it cannot run TLS itself)."""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import socket
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from modelcrate import transfer
from modelcrate.content.remote import RemoteSettings
from modelcrate.cli.wording import flag_wording
from modelcrate.errors import ModelcrateError
from modelcrate.settings import Settings
from tests.support.registry import RegistryProcess
from tests.transport.conftest import FAST_RETRY, model_files, write_model


def make_ca(tmp: Path, name: str) -> tuple[Path, ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(hours=1))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                         content_commitment=False, key_encipherment=False, data_encipherment=False,
                                         key_agreement=False, encipher_only=False, decipher_only=False),
                           critical=True)
            .sign(key, hashes.SHA256()))
    path = tmp / f"{name}.pem"
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path, key, cert


def server_cert(tmp: Path, ca_key: ec.EllipticCurvePrivateKey, ca: x509.Certificate) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
            .issuer_name(ca.subject).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(hours=1)).not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .sign(ca_key, hashes.SHA256()))
    cert_path, key_path = tmp / "server.pem", tmp / "server.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


class TLSProxy:
    """Accepts TLS on 127.0.0.1 and forwards the plaintext to ``upstream_port``."""

    def __init__(self, upstream_port: int, cert: Path, key: Path) -> None:
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(cert, key)
        self.upstream = upstream_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.2)
        self.port = self.listener.getsockname()[1]
        self.closing = threading.Event()
        self.socks: list[socket.socket] = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while not self.closing.is_set():
            try:
                raw, _ = self.listener.accept()
            except (TimeoutError, OSError):
                continue
            threading.Thread(target=self._serve, args=(raw,), daemon=True).start()

    def _serve(self, raw: socket.socket) -> None:
        try:
            raw.settimeout(10)
            tls = self.ctx.wrap_socket(raw, server_side=True)
            tls.settimeout(None)
            up = socket.create_connection(("127.0.0.1", self.upstream))
        except (OSError, ssl.SSLError):
            raw.close()
            return
        self.socks += [tls, up]

        def pump(src: socket.socket, dst: socket.socket) -> None:
            try:
                while data := src.recv(65536):
                    dst.sendall(data)
            except OSError:
                pass
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

        threading.Thread(target=pump, args=(up, tls), daemon=True).start()
        pump(tls, up)

    def close(self) -> None:
        self.closing.set()
        self.listener.close()
        self.thread.join(timeout=5)
        for s in self.socks:
            s.close()


@pytest.fixture
def tls(registry: RegistryProcess, tmp_path: Path) -> Iterator[tuple[TLSProxy, Path]]:
    ca_path, ca_key, ca = make_ca(tmp_path, "test-ca")
    cert, key = server_cert(tmp_path, ca_key, ca)
    proxy = TLSProxy(registry.port, cert, key)
    yield proxy, ca_path
    proxy.close()


def test_ca_file_is_trusted_and_a_round_trip_works_over_tls(
        tls: tuple[TLSProxy, Path], repo: str, tmp_path: Path, settings: Settings, docker_config: Path) -> None:
    proxy, ca = tls
    remote = RemoteSettings(ca_file=str(ca), docker_config=docker_config, retry=FAST_RETRY)
    root = write_model(tmp_path / "m", {"w.bin": os.urandom(2_000_000)})
    ref = f"127.0.0.1:{proxy.port}/{repo}:1"
    transfer.push_dir(root, ref, config=settings, remote=remote)
    out = tmp_path / "out"
    transfer.pull_to_dir(ref, out, remote=remote)
    assert model_files(out) == model_files(root)
    insecure = RemoteSettings(insecure=True, docker_config=docker_config, retry=FAST_RETRY)
    assert transfer.list_tags(ref.rsplit(":", 1)[0], remote=insecure) == ["1"]


def test_an_untrusted_certificate_is_refused_with_the_next_step(
        tls: tuple[TLSProxy, Path], repo: str, tmp_path: Path, docker_config: Path,
        run_cli: object) -> None:
    proxy, _ca = tls
    other_ca, _k, _c = make_ca(tmp_path, "other-ca")
    remote = RemoteSettings(ca_file=str(other_ca), docker_config=docker_config, retry=FAST_RETRY)
    with pytest.raises(ModelcrateError, match="TLS certificate of 127.0.0.1:\\d+ is not trusted") as err:
        transfer.list_tags(f"127.0.0.1:{proxy.port}/{repo}", remote=remote)
    # The library names no flags; the CLI words the next step with them.
    assert "--" not in (err.value.hint or "")
    worded = flag_wording(err.value).diagnostics()
    assert "--registry-ca-file" in worded and "--insecure" in worded
    done = run_cli("tags", f"127.0.0.1:{proxy.port}/{repo}", "--ca-file", str(_ca))  # type: ignore[operator]
    assert done.returncode == 3  # trusted now; the repository just does not exist
