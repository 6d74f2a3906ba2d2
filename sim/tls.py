"""Self-signed TLS for loopback services, like go-livepeer's ``server/cert.go``.

An ECDSA P-256 certificate whose SAN names the service host (DNS and, for an IP, IP too), marked as a CA so
trust-on-first-use clients (the livepeer-gateway SDK's gRPC) can pin it as their root.
"""
from __future__ import annotations

import datetime as _dt
import ipaddress
import ssl
import tempfile
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

__all__ = ["CertPair", "make_self_signed", "load_or_make", "server_context", "client_context_insecure"]


@dataclass(frozen=True)
class CertPair:
    cert_pem: bytes
    key_pem: bytes

    def write(self, directory: Path) -> tuple[Path, Path]:
        directory.mkdir(parents=True, exist_ok=True)
        cert, key = directory / "cert.pem", directory / "key.pem"
        cert.write_bytes(self.cert_pem)
        key.write_bytes(self.key_pem)
        key.chmod(0o600)
        return cert, key

    @property
    def fingerprint_sha256(self) -> str:
        c = x509.load_pem_x509_certificate(self.cert_pem)
        return c.fingerprint(hashes.SHA256()).hex()


def make_self_signed(host: str = "127.0.0.1", *, days: int = 365) -> CertPair:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "lpdev (throwaway dev cert)"),
                      x509.NameAttribute(NameOID.COMMON_NAME, host)])
    sans: list[x509.GeneralName] = [x509.DNSName(host)]
    try:
        sans.append(x509.IPAddress(ipaddress.ip_address(host)))
    except ValueError:
        if host == "localhost":
            sans.append(x509.IPAddress(ipaddress.ip_address("127.0.0.1")))
    now = _dt.datetime.now(_dt.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _dt.timedelta(minutes=5))
        .not_valid_after(now + _dt.timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_encipherment=False, content_commitment=False,
                                     data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                     crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(key, hashes.SHA256())
    )
    return CertPair(
        cert.public_bytes(serialization.Encoding.PEM),
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                          serialization.NoEncryption()),
    )


def load_or_make(directory: Path | None, host: str, *, keep: bool) -> CertPair:
    """``keep``: reuse ``directory/cert.pem`` if present (else create and store). Otherwise a fresh cert each
    start, as go-livepeer does."""
    if keep and directory is not None:
        cert, key = directory / "cert.pem", directory / "key.pem"
        if cert.exists() and key.exists():
            return CertPair(cert.read_bytes(), key.read_bytes())
        pair = make_self_signed(host)
        pair.write(directory)
        return pair
    return make_self_signed(host)


def server_context(pair: CertPair, *, alpn: tuple[str, ...] = ("h2", "http/1.1")) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    with tempfile.TemporaryDirectory() as d:
        c, k = pair.write(Path(d))
        ctx.load_cert_chain(str(c), str(k))
    ctx.set_alpn_protocols(list(alpn))
    return ctx


def client_context_insecure() -> ssl.SSLContext:
    """What go-livepeer gateways and the SDK do: TLS without certificate verification."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx
