"""Capability ids and the ``net.Capabilities`` bitstring (docs/wire.md#protobuf-messages).

Ids and display names are go-livepeer's (``core/capabilities.go``); pipeline names are the display names
lower-cased with spaces turned into dashes (``"Live video to video"`` -> ``live-video-to-video``).
Bit ``i`` of word ``i // 64`` of ``bitstring`` is capability ``i``.
"""
from __future__ import annotations

from typing import Iterable

__all__ = [
    "CAPABILITY_NAMES", "AUTH_TOKEN", "TEXT_TO_IMAGE", "LIVE_VIDEO_TO_VIDEO", "BYOC", "capability_name",
    "pipeline_name", "capability_ids", "bitstring",
]

AUTH_TOKEN = 12
TEXT_TO_IMAGE = 27
LIVE_VIDEO_TO_VIDEO = 35
BYOC = 37

CAPABILITY_NAMES: dict[int, str] = {
    0: "H.264", 1: "MPEGTS", 2: "MP4", 3: "Fractional framerates", 4: "Storage direct", 5: "Storage S3",
    6: "Storage GCS", 7: "H264 Baseline profile", 8: "H264 Main profile", 9: "H264 High profile",
    10: "H264 Constrained, Contained High profile", 11: "GOP", 12: "Auth token", 13: "Scene classification",
    14: "MPEG7 signature", 15: "HEVC decode", 16: "HEVC encode", 17: "VP8 decode", 18: "VP9 decode",
    19: "VP8 encode", 20: "VP9 encode", 21: "H264 Decode YUV444 8-bit", 22: "H264 Decode YUV422 8-bit",
    23: "H264 Decode YUV444 10-bit", 24: "H264 Decode YUV422 10-bit", 25: "H264 Decode YUV420 10-bit",
    26: "Segment slicing", 27: "Text to image", 28: "Image to image", 29: "Image to video", 30: "Upscale",
    31: "Audio to text", 32: "Segment anything 2", 33: "Llm", 34: "Image to text",
    35: "Live video to video", 36: "Text to speech", 37: "byoc",
}


def capability_name(cap: int) -> str:
    return CAPABILITY_NAMES.get(cap, f"capability {cap}")


def pipeline_name(cap: int) -> str:
    return capability_name(cap).lower().replace(" ", "-")


def capability_ids(words: Iterable[int]) -> list[int]:
    """Ids whose bits are set in a bitstring (list of uint64 words)."""
    out = []
    for w, word in enumerate(words):
        for b in range(64):
            if (int(word) >> b) & 1:
                out.append(w * 64 + b)
    return out


def bitstring(ids: Iterable[int]) -> list[int]:
    """The uint64 words with the given capability bits set."""
    ids = list(ids)
    if any(i < 0 for i in ids):
        raise ValueError("capability ids are non-negative")
    words = [0] * ((max(ids) // 64 + 1) if ids else 0)
    for i in ids:
        words[i // 64] |= 1 << (i % 64)
    return words
