"""A tiny generated MPEG-TS segment stream: no camera, no network (issue 8 item 5).

Each segment is a standalone transport stream a trickle subscriber can decode on its own (like a GOP-aligned
segment from the SDK's ``MediaPublish``, which muxes ``segment_format=mpegts``):

* 188-byte packets, sync byte ``0x47``; PAT (PID 0) and PMT (PID 0x1000) at the start of every segment;
* one H.264 video elementary stream (PID 0x100, stream type 0x1B), one PES packet per frame with a PTS on the
  90 kHz clock that keeps advancing across segments (``frame_index * 90000 / fps``); PCR on the first packet of each
  PES; continuity counters per PID continue across segments, as from one muxer.

Two encoders:

* ``"pure"`` (always available): real, decodable H.264 written by :mod:`sim.media.h264` — an IDR of raw (I_PCM)
  test-pattern samples at the start of each segment, then P pictures that skip every macroblock. No encoder needed.
* ``"av"`` (when PyAV is importable): real H.264 frames of a small moving test pattern (libx264, one IDR per
  segment, no B-frames), encoded in-process, re-muxed by this module so the TS layout above holds for both.

``segments(...)`` yields bytes per segment; :func:`publish` pushes them to a trickle ``publish_url`` at a real-time
pace (with the SDK's ``TricklePublisher`` if installed, else plain aiohttp).
"""
from __future__ import annotations

import asyncio
import struct
from dataclasses import dataclass, field
from typing import Iterator, Optional

from sim.media import h264

__all__ = [
    "PACKET_SIZE", "SYNC_BYTE", "PAT_PID", "PMT_PID", "VIDEO_PID", "PTS_HZ", "TsStream", "segments", "publish",
    "av_available", "pattern_planes", "test_pattern_frame", "parse_packets", "Packet", "pes_pts_list", "crc32_mpeg2",
]

PACKET_SIZE = 188
SYNC_BYTE = 0x47
PAT_PID = 0x0000
PMT_PID = 0x1000
VIDEO_PID = 0x0100
STREAM_TYPE_H264 = 0x1B
PROGRAM_NUMBER = 1
PTS_HZ = 90_000
PTS_OFFSET = 2 * PTS_HZ  # start at 2 s like ffmpeg's muxer (leaves room for PCR < PTS)


def crc32_mpeg2(data: bytes) -> int:
    """CRC-32/MPEG-2 (poly 0x04C11DB7, init 0xFFFFFFFF, no reflection, no final xor), used by PSI sections."""
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b << 24
        for _ in range(8):
            crc = ((crc << 1) ^ 0x04C11DB7) & 0xFFFFFFFF if crc & 0x80000000 else (crc << 1) & 0xFFFFFFFF
    return crc


def _psi_section(table_id: int, id_ext: int, body: bytes) -> bytes:
    # section_syntax_indicator=1, '0', reserved '11', section_length covers id_ext..CRC
    length = 5 + len(body) + 4
    head = bytes([table_id, 0xB0 | (length >> 8), length & 0xFF, id_ext >> 8, id_ext & 0xFF,
                  0xC1,  # reserved '11', version 0, current_next 1
                  0x00, 0x00])  # section_number, last_section_number
    sec = head + body
    return sec + struct.pack(">I", crc32_mpeg2(sec))


def pat_section() -> bytes:
    return _psi_section(0x00, 0x0001, struct.pack(">HH", PROGRAM_NUMBER, 0xE000 | PMT_PID))


def pmt_section() -> bytes:
    body = struct.pack(">HH", 0xE000 | VIDEO_PID, 0xF000)  # PCR PID, program_info_length 0
    body += struct.pack(">BHH", STREAM_TYPE_H264, 0xE000 | VIDEO_PID, 0xF000)
    return _psi_section(0x02, PROGRAM_NUMBER, body)


def _pts_bytes(pts: int, marker: int = 0x2) -> bytes:
    pts &= (1 << 33) - 1
    return bytes([(marker << 4) | (((pts >> 30) & 0x07) << 1) | 1,
                  (pts >> 22) & 0xFF, (((pts >> 15) & 0x7F) << 1) | 1,
                  (pts >> 7) & 0xFF, ((pts & 0x7F) << 1) | 1])


def _pes(payload: bytes, pts: int) -> bytes:
    header = b"\x80\x80\x05" + _pts_bytes(pts)  # '10' marker, PTS only, header length 5
    # video PES may use PES_packet_length 0 (unbounded) when it would not fit 16 bits
    length = len(header) + len(payload)
    return b"\x00\x00\x01\xE0" + struct.pack(">H", length if length <= 0xFFFF else 0) + header + payload


def _pcr_bytes(pcr_base: int) -> bytes:
    pcr_base &= (1 << 33) - 1
    return struct.pack(">IH", pcr_base >> 1, ((pcr_base & 1) << 15) | 0x7E00)


@dataclass
class TsStream:
    """Packetizer state that persists across segments (continuity counters, frame clock)."""

    fps: int = 30
    width: int = 64
    height: int = 64
    encoder: str = "auto"  # "auto" | "pure" | "av"
    frame_index: int = 0
    _cc: dict = field(default_factory=dict)
    _av: object = None
    _idr_id: int = 0

    def __post_init__(self) -> None:
        if self.fps <= 0 or self.width <= 0 or self.height <= 0 or self.width % 2 or self.height % 2:
            raise ValueError("fps must be > 0 and width/height positive even numbers")
        if self.encoder == "auto":
            self.encoder = "av" if av_available() else "pure"
        if self.encoder not in ("pure", "av"):
            raise ValueError(f"unknown encoder {self.encoder!r} (pure | av)")
        if self.encoder == "av" and not av_available():
            raise RuntimeError("encoder 'av' needs PyAV with libx264")
        if self.encoder == "pure" and (self.width % 16 or self.height % 16):
            raise ValueError("the pure-Python encoder needs width and height multiples of 16")

    # -- packets ------------------------------------------------------------------------------------------------
    def _next_cc(self, pid: int) -> int:
        cc = self._cc.get(pid, -1)
        cc = (cc + 1) & 0x0F
        self._cc[pid] = cc
        return cc

    def _packetize(self, pid: int, data: bytes, *, pcr: Optional[int] = None, random_access: bool = False,
                   psi: bool = False) -> bytes:
        """Split a PSI section or a PES packet into 188-byte packets (PUSI on the first)."""
        if psi:
            data = b"\x00" + data  # pointer_field
        out = bytearray()
        pos, first = 0, True
        while first or pos < len(data):
            af = bytearray()  # adaptation field after its length byte
            if first and (pcr is not None or random_access):
                af.append((0x40 if random_access else 0) | (0x10 if pcr is not None else 0))
                if pcr is not None:
                    af += _pcr_bytes(pcr)
            has_af = bool(af)
            room = PACKET_SIZE - 4 - (1 + len(af) if has_af else 0)
            remaining = len(data) - pos
            chunk = data[pos:pos + room]
            pad = room - len(chunk)
            if pad:
                if psi:
                    chunk += b"\xff" * pad  # PSI: stuffing bytes after the section
                elif has_af:
                    af += b"\xff" * pad  # PES: stuff through the adaptation field
                else:
                    has_af = True
                    af = bytearray() if pad == 1 else bytearray([0x00]) + b"\xff" * (pad - 2)
            afc = 0x30 if has_af else 0x10
            header = struct.pack(">BHB", SYNC_BYTE, (0x4000 if first else 0) | pid, afc | self._next_cc(pid))
            pkt = header + (bytes([len(af)]) + bytes(af) if has_af else b"") + chunk
            if len(pkt) != PACKET_SIZE:  # pragma: no cover - internal invariant
                raise AssertionError(f"packet of {len(pkt)} bytes")
            out += pkt
            pos += min(room, remaining)
            first = False
        return bytes(out)

    # -- frames -------------------------------------------------------------------------------------------------
    def _pts(self, index: int) -> int:
        return PTS_OFFSET + index * PTS_HZ // self.fps

    def _pure_frames(self, n: int) -> list[tuple[bytes, bool]]:
        """An I_PCM IDR of the test pattern at this segment's first frame, then P-skip frames (sim.media.h264)."""
        w, h, t = self.width, self.height, self.frame_index
        y, u, v = pattern_planes(t, w, h)
        frames = [(h264.aud(True) + h264.sps(w, h) + h264.pps() + h264.idr_pcm(w, h, y, u, v, self._idr_id),
                   True)]
        self._idr_id = (self._idr_id + 1) & 0xFFFF
        frames += [(h264.aud(False) + h264.p_skip(w, h, k), False) for k in range(1, n)]
        return frames

    def _av_frames(self, n: int) -> list[tuple[bytes, bool]]:
        import av

        if self._av is None:
            from fractions import Fraction
            ctx = av.CodecContext.create("libx264", "w")
            ctx.width, ctx.height, ctx.pix_fmt = self.width, self.height, "yuv420p"
            ctx.time_base = Fraction(1, self.fps)
            ctx.framerate = Fraction(self.fps, 1)
            ctx.options = {"preset": "ultrafast", "tune": "zerolatency", "bf": "0", "forced-idr": "1",
                           "g": str(10 * self.fps)}
            self._av = ctx
        ctx = self._av
        out: list[tuple[bytes, bool]] = []
        w, h = self.width, self.height
        for i in range(n):
            t = self.frame_index + i
            # moving diagonal bars on Y, slowly cycling chroma: a test pattern with no numpy
            frame = test_pattern_frame(t, w, h)
            frame.pts = t
            frame.pict_type = av.video.frame.PictureType.I if i == 0 else av.video.frame.PictureType.NONE
            for pkt in ctx.encode(frame):
                out.append((bytes(pkt), bool(pkt.is_keyframe)))
        # zerolatency + no B-frames: one packet per frame, no delay
        if len(out) != n:
            raise RuntimeError(f"libx264 returned {len(out)} packets for {n} frames")
        return out

    def segment(self, frames: int) -> bytes:
        """One standalone TS segment of ``frames`` video frames (first is a key frame)."""
        if frames < 1:
            raise ValueError("a segment needs at least one frame")
        coded = self._av_frames(frames) if self.encoder == "av" else self._pure_frames(frames)
        out = bytearray()
        out += self._packetize(PAT_PID, pat_section(), psi=True)
        out += self._packetize(PMT_PID, pmt_section(), psi=True)
        for i, (payload, key) in enumerate(coded):
            pts = self._pts(self.frame_index + i)
            out += self._packetize(VIDEO_PID, _pes(payload, pts), pcr=pts - PTS_HZ // 10, random_access=key)
        self.frame_index += frames
        return bytes(out)


_AV_OK: Optional[bool] = None


def pattern_planes(index: int, width: int, height: int) -> tuple[bytes, bytes, bytes]:
    """Y, U, V planes (4:2:0, row-major, no padding) of the moving test pattern at frame ``index``."""
    w, h, t = width, height, index
    y = b"".join(bytes(((x + r + 2 * t) * 4) & 0xFF for x in range(w)) for r in range(h))
    u = bytes([(64 + 3 * t) & 0xFF]) * (w // 2 * (h // 2))
    v = bytes([(192 - 2 * t) & 0xFF]) * (w // 2 * (h // 2))
    return y, u, v


def test_pattern_frame(index: int, width: int = 64, height: int = 64, fps: Optional[int] = None):
    """A ``yuv420p`` ``av.VideoFrame`` of a moving test pattern (needs PyAV, not numpy); feed it to the SDK's
    ``MediaPublish.write_frame``. With ``fps``, ``pts = index`` in a ``1/fps`` time base."""
    import av
    from fractions import Fraction

    w, h = width, height
    y, u, v = pattern_planes(index, w, h)
    frame = av.VideoFrame(w, h, "yuv420p")
    for plane, data, pw in zip(frame.planes, (y, u, v), (w, w // 2, w // 2)):
        pad = b"\x00" * (plane.line_size - pw)
        plane.update(b"".join(data[r:r + pw] + pad for r in range(0, len(data), pw)))
    if fps:
        frame.pts = index
        frame.time_base = Fraction(1, fps)
    return frame


def av_available() -> bool:
    """PyAV importable with a libx264 encoder (checked once)."""
    global _AV_OK
    if _AV_OK is None:
        try:
            import av
            _AV_OK = "libx264" in av.codecs_available
        except Exception:
            _AV_OK = False
    return _AV_OK


def segments(count: Optional[int] = None, *, segment_s: float = 1.0, fps: int = 30, width: int = 64,
             height: int = 64, encoder: str = "auto") -> Iterator[bytes]:
    """Yield ``count`` segments (forever if None) of ``segment_s`` seconds each."""
    per = max(1, round(segment_s * fps))
    ts = TsStream(fps=fps, width=width, height=height, encoder=encoder)
    n = 0
    while count is None or n < count:
        yield ts.segment(per)
        n += 1


async def publish(publish_url: str, count: int, *, segment_s: float = 1.0, realtime: bool = True,
                  encoder: str = "auto", mime: str = "video/mp2t", client: str = "auto", **kw) -> list[bytes]:
    """Publish ``count`` generated segments to a trickle ``publish_url``, then close the channel (DELETE, as the
    SDK does); returns what was sent.

    ``client="sdk"`` uses the SDK's ``TricklePublisher`` (a demo then exercises the SDK's publisher); ``"aiohttp"``
    speaks the protocol directly: ``GET /next``, then ``POST /{seq}`` (``Lp-Trickle-Reset: 1`` on the first);
    ``"auto"`` picks the SDK when installed. ``realtime`` sleeps ``segment_s`` between segments like a live source.
    """
    if client == "auto":
        try:
            import livepeer_gateway.trickle_publisher  # noqa: F401
            client = "sdk"
        except ImportError:  # pragma: no cover - the SDK is a dev dependency
            client = "aiohttp"
    if client not in ("sdk", "aiohttp"):
        raise ValueError(f"unknown client {client!r} (sdk | aiohttp | auto)")
    sent: list[bytes] = []
    gen = segments(count, segment_s=segment_s, encoder=encoder, **kw)
    if client == "sdk":
        from livepeer_gateway.trickle_publisher import TricklePublisher

        async with TricklePublisher(publish_url, mime) as pub:
            for i, seg in enumerate(gen):
                if i and realtime:
                    await asyncio.sleep(segment_s)
                async with await pub.next() as w:
                    await w.write(seg)
                sent.append(seg)
            # let the last POST finish before close() cancels in-flight requests
            for _ in range(250):
                if pub.get_stats().post_success >= len(sent):
                    break
                await asyncio.sleep(0.02)
        return sent
    import aiohttp

    base = publish_url.rstrip("/")
    async with aiohttp.ClientSession() as s:
        async with s.get(base + "/next") as r:
            if r.status != 200:
                raise RuntimeError(f"trickle GET {base}/next failed: {r.status} {(await r.text()).strip()}")
            seq = int(r.headers.get("Lp-Trickle-Latest", "0"))
        for i, seg in enumerate(gen):
            if i and realtime:
                await asyncio.sleep(segment_s)
            headers = {"Content-Type": mime}
            if i == 0:
                headers["Lp-Trickle-Reset"] = "1"
            async with s.post(f"{base}/{seq}", data=seg, headers=headers) as r:
                if r.status != 200:
                    raise RuntimeError(f"trickle POST {base}/{seq} failed: {r.status} {(await r.text()).strip()}")
            sent.append(seg)
            seq += 1
        async with s.delete(base):
            pass
    return sent


# -- parsing (for tests and `lpdev` diagnostics) ----------------------------------------------------------------
@dataclass(frozen=True)
class Packet:
    pid: int
    pusi: bool
    cc: int
    has_payload: bool
    adaptation: bytes
    payload: bytes


def parse_packets(data: bytes) -> list[Packet]:
    """Split into packets, checking size and sync bytes (ValueError naming the packet otherwise)."""
    if len(data) % PACKET_SIZE:
        raise ValueError(f"length {len(data)} is not a multiple of {PACKET_SIZE}")
    out = []
    for off in range(0, len(data), PACKET_SIZE):
        p = data[off:off + PACKET_SIZE]
        if p[0] != SYNC_BYTE:
            raise ValueError(f"packet {off // PACKET_SIZE}: sync byte 0x{p[0]:02x}")
        pid = ((p[1] & 0x1F) << 8) | p[2]
        afc = (p[3] >> 4) & 3
        if afc == 0:
            raise ValueError(f"packet {off // PACKET_SIZE}: adaptation_field_control 0")
        pos = 4
        adapt = b""
        if afc & 2:
            alen = p[4]
            adapt = p[5:5 + alen]
            pos = 5 + alen
            if pos > PACKET_SIZE:
                raise ValueError(f"packet {off // PACKET_SIZE}: adaptation field too long")
        out.append(Packet(pid, bool(p[1] & 0x40), p[3] & 0x0F, bool(afc & 1), adapt,
                          p[pos:] if afc & 1 else b""))
    return out


def _read_pts(b: bytes) -> int:
    return (((b[0] >> 1) & 0x07) << 30) | (b[1] << 22) | ((b[2] >> 1) << 15) | (b[3] << 7) | (b[4] >> 1)


def pes_pts_list(packets: list[Packet], pid: int = VIDEO_PID) -> list[int]:
    """PTS of each PES packet starting on ``pid``."""
    pts = []
    for p in packets:
        if p.pid == pid and p.pusi:
            pl = p.payload
            if pl[:3] != b"\x00\x00\x01":
                raise ValueError("PES start code missing")
            if pl[7] & 0x80:
                pts.append(_read_pts(pl[9:14]))
    return pts
