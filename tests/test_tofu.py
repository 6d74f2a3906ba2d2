"""Trust-on-first-use helpers: the authority a client must use is the name the certificate was issued for."""
from sim.tls import make_self_signed
from sim.tofu import authority_of, channel_options


def test_authority_is_first_dns_san():
    pem = make_self_signed("orch.local").cert_pem.decode()
    assert authority_of(pem, "127.0.0.1") == "orch.local"
    assert dict(channel_options(pem, "127.0.0.1"))["grpc.ssl_target_name_override"] == "orch.local"


def test_authority_for_ip_cert_and_garbage():
    pem = make_self_signed("127.0.0.1").cert_pem.decode()
    assert authority_of(pem, "localhost") == "127.0.0.1"
    assert authority_of("not a certificate", "fallback.host") == "fallback.host"
