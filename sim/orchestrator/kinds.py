"""Event kinds the orchestrator emits (one vocabulary: :mod:`sim.events`), registered at import."""
from sim.events import register_kinds

KINDS = {
    "orch.started": "the orchestrator listens (url, address, data dir, backend)",
    "orch.chain": "the orchestrator saw a new block (block, round, gas price)",
    "orch.params_issued": "ticket params, price and auth token issued to a sender (docs/orchestrator.md)",
    "orch.getorchestrator_rejected": "GetOrchestrator refused (gRPC UNKNOWN with Go's message)",
    "orch.payment_received": "a /payment (or job) request with N tickets arrived",
    "orch.payment_rejected": "a payment was refused: HTTP status and Go's message",
    "orch.refresh": "POST /refresh-payment answered: status and Go's message; a 409 also says why there is no fixed price",
    "orch.ticket": "one ticket's verdict: credited or error (fatal/non-fatal) and its win test",
    "orch.credit": "EV credited to (sender, manifest id)",
    "orch.debit": "fee debited from (sender, manifest id), or refused for insufficient balance",
    "orch.winner_stored": "a winning ticket was committed to SQLite before the reply",
    "orch.redemption_sent": "a redemption transaction is about to be sent (ticket marked 'sending')",
    "orch.redemption_mined": "a redemption succeeded on chain (tx hash, gas)",
    "orch.redemption_failed": "a redemption failed or was skipped, with the reason and whether it retries",
    "orch.sender_funds": "the sender monitor read a sender's deposit and reserve on chain (when they changed)",
    "orch.faults": "fault knobs changed",
    "orch.cert_rotated": "the TLS certificate was replaced",
}
register_kinds(KINDS)
