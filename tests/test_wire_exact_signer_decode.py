"""The signer's ``/generate-live-payment`` answers Go's first decode error in document order (the decode step of
docs/remote-signer.md#the-order-of-checks): through the core, so the 400 body is what a gateway sees."""
from __future__ import annotations

import pytest

from sim.clock import VirtualClock
from sim.signer.config import SignerConfig
from sim.signer.core import SignerCore
from sim.signer.testkit import MemoryChain
from tests.test_signer_harness import KEY
from tests.test_signer_units import DOCUMENT_ORDER_CASES


@pytest.mark.parametrize("body, message", DOCUMENT_ORDER_CASES)  # the decoder's cases, end to end
def test_generate_live_payment_400_names_the_first_error_in_the_document(body, message):
    core = SignerCore(key=KEY, chain=MemoryChain(), config=SignerConfig(), clock=VirtualClock())
    resp = core.begin_payment([], body)
    assert (resp.status, resp.body) == (400, {"error": {"message": message}})
