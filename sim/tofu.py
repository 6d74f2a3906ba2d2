"""Trust-on-first-use TLS for gRPC, the way the livepeer-gateway SDK talks to orchestrators
(docs/wire.md#transport).

Orchestrators serve a self-signed certificate that changes on every start. A client fetches it with an
unverified TLS handshake (ALPN ``h2``, no SNI for an IP host), pins it as the only root, and overrides the gRPC
authority with the name the certificate was issued for: first DNS SAN, else IP SAN, else CN. On a
verification failure the SDK evicts the pin and fetches again once.

One implementation for every lpdev client: the scripted gateway, the signer's discovery and the test probe.
"""
from __future__ import annotations

import ipaddress
import socket
import ssl

import grpc
from cryptography import x509

__all__ = ["fetch_cert_pem", "authority_of", "channel_options", "secure_channel"]


def fetch_cert_pem(host: str, port: int, timeout: float = 5.0) -> str:
    """The server's certificate as PEM, fetched without verification."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.set_alpn_protocols(["h2"])
    try:
        ipaddress.ip_address(host)
        server_hostname = None  # no SNI for IP hosts
    except ValueError:
        server_hostname = host
    with socket.create_connection((host, port), timeout=timeout) as sock:
        with ctx.wrap_socket(sock, server_hostname=server_hostname) as tls:
            der = tls.getpeercert(binary_form=True)
    return ssl.DER_cert_to_PEM_cert(der)


def authority_of(cert_pem: str, host: str) -> str:
    """First DNS SAN, else IP SAN, else CN; ``host`` if the certificate names none."""
    try:
        cert = x509.load_pem_x509_certificate(cert_pem.encode())
    except ValueError:
        return host
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        dns = san.get_values_for_type(x509.DNSName)
        if dns:
            return dns[0]
        ips = san.get_values_for_type(x509.IPAddress)
        if ips:
            return str(ips[0])
    except x509.ExtensionNotFound:
        pass
    cn = cert.subject.get_attributes_for_oid(x509.oid.NameOID.COMMON_NAME)
    return str(cn[0].value) if cn else host


def channel_options(cert_pem: str, host: str) -> list[tuple[str, str]]:
    name = authority_of(cert_pem, host)
    return [("grpc.ssl_target_name_override", name), ("grpc.default_authority", name)]


def secure_channel(host: str, port: int, *, timeout: float = 5.0, aio: bool = False):
    """``(channel, pem)``: a gRPC channel pinned to the certificate the server presents now.

    ``aio=True`` gives a ``grpc.aio`` channel. Blocking (it does a TLS handshake): from async code, call the
    fetch in a thread — see :func:`fetch_cert_pem` — and build the channel with :func:`channel_options`.
    """
    pem = fetch_cert_pem(host, port, timeout)
    creds = grpc.ssl_channel_credentials(root_certificates=pem.encode())
    make = grpc.aio.secure_channel if aio else grpc.secure_channel
    return make(f"{host}:{port}", creds, options=channel_options(pem, host)), pem
