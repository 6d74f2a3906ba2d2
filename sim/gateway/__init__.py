"""Scripted gateway: the go-livepeer gateway's payment flow over the real wire (protocol.md §3.14).

* :mod:`sim.gateway.signer_client` — ``POST /sign-orchestrator-info`` and ``POST /generate-live-payment``;
* :mod:`sim.gateway.orch_client` — ``GetOrchestrator`` over gRPC (TLS trust-on-first-use, or cleartext for
  ``http://`` service URIs) and ``POST {transcoder}/payment``;
* :mod:`sim.gateway.session` — :class:`GatewaySession`: one payment session with a cadence, refresh on 480,
  skip on 482, stop on 481;
* ``python -m sim.gateway`` — the same as a process.
"""
from sim.gateway.session import GatewayConfig, GatewaySession, PaymentOutcome  # noqa: F401

__all__ = ["GatewayConfig", "GatewaySession", "PaymentOutcome"]
