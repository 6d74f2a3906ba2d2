"""The fake orchestrator's capabilities (docs/wire.md#protobuf-messages, docs/orchestrator.md#getorchestrator).

lpdev's orchestrator advertises AuthToken (12) and live-video-to-video (35) with its models (default
``noop``), capacity and in-use counts per model, like go-livepeer's ``orchestratorInfoWithCaps``.
"""
from __future__ import annotations

from sim.wire import lp_rpc_pb2 as pb

__all__ = ["CAP_AUTH_TOKEN", "CAP_LIVE_VIDEO_TO_VIDEO", "PIPELINE_LV2V", "build_capabilities", "compatible"]

CAP_AUTH_TOKEN = 12
CAP_LIVE_VIDEO_TO_VIDEO = 35
PIPELINE_LV2V = "live-video-to-video"
VERSION = "lpdev"


def _bitstring(caps: list[int]) -> list[int]:
    words = [0] * (max(caps) // 64 + 1)
    for c in caps:
        words[c // 64] |= 1 << (c % 64)
    return words


def build_capabilities(models: dict[str, tuple[int, int]]) -> pb.Capabilities:
    """``models``: model id -> (capacity, in use) for live-video-to-video."""
    caps = pb.Capabilities(version=VERSION)
    caps.bitstring.extend(_bitstring([CAP_AUTH_TOKEN, CAP_LIVE_VIDEO_TO_VIDEO]))
    caps.capacities[CAP_LIVE_VIDEO_TO_VIDEO] = sum(c for c, _ in models.values())
    per = caps.constraints.PerCapability[CAP_LIVE_VIDEO_TO_VIDEO]
    for model, (capacity, in_use) in models.items():
        m = per.models[model]
        m.warm = True
        m.capacity = capacity
        m.capacityInUse = in_use
    return caps


def compatible(requested: pb.Capabilities | None, ours: pb.Capabilities) -> bool:
    """go-livepeer ``CompatibleWith`` for what lpdev advertises: every requested capability bit (and every
    mandatory one) must be ours. Nil requested capabilities count as empty (always compatible)."""
    if requested is None:
        return True
    have = list(ours.bitstring)
    for words in (requested.bitstring, requested.mandatories):
        for i, w in enumerate(words):
            mine = have[i] if i < len(have) else 0
            if w & ~mine:
                return False
    return True
