"""Scripted gateway: the go-livepeer gateway's payment flow over the real wire (docs/refreshes.md#what-gateways-do).

* :mod:`sim.gateway.signer_client` — ``POST /sign-orchestrator-info`` and ``POST /generate-live-payment``;
* :mod:`sim.gateway.orch_client` — ``GetOrchestrator`` over gRPC (TLS trust-on-first-use, or cleartext for
  ``http://`` service URIs) and ``POST {transcoder}/payment``;
* :mod:`sim.gateway.session` — :class:`GatewaySession`: one payment session with a cadence, refresh on 480,
  skip on 482, stop on 481;
* :mod:`sim.gateway.job` — :class:`~sim.gateway.job.LV2VJob`: a paid ``noop`` live-video-to-video job the way the
  livepeer-gateway SDK runs one (``POST /live-video-to-video``, trickle publish/subscribe, a payment per output
  segment at the cadence, input closed at the end); ``lpdev up --lv2v-job``;
* ``python -m sim.gateway`` — the same as a process.
"""
from sim.gateway.session import GatewayConfig, GatewaySession, PaymentOutcome  # noqa: F401

__all__ = ["GatewayConfig", "GatewaySession", "PaymentOutcome"]
