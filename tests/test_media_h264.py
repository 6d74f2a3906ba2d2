"""The pure-Python H.264 writer: bit-exact Exp-Golomb / escaping, and pictures FFmpeg decodes to our samples."""
from __future__ import annotations

import pytest

from sim.media import h264, mpegts


def bits(w: h264.BitWriter) -> str:
    w.align_zero()
    return "".join(f"{b:08b}" for b in w.bytes())


def test_exp_golomb_codes():
    assert bits(h264.BitWriter().ue(0)).startswith("1")
    assert bits(h264.BitWriter().ue(1)).startswith("010")
    assert bits(h264.BitWriter().ue(3)).startswith("00100")
    assert bits(h264.BitWriter().ue(25)).startswith("000011010")
    assert bits(h264.BitWriter().se(1)).startswith("010")
    assert bits(h264.BitWriter().se(-1)).startswith("011")
    with pytest.raises(ValueError):
        h264.BitWriter().u(3, 8)
    with pytest.raises(ValueError):
        h264.BitWriter().u(1, 1).raw(b"x")


def test_emulation_prevention():
    assert h264.nal(0, 9, b"\x00\x00\x01\x00\x00\x00\x00") == (
        b"\x00\x00\x00\x01\x09" + b"\x00\x00\x03\x01\x00\x00\x03\x00\x00")


def test_bad_sizes():
    with pytest.raises(ValueError):
        h264.sps(40, 32)
    with pytest.raises(ValueError):
        h264.idr_pcm(32, 32, b"\x10" * 10, b"", b"")
    with pytest.raises(ValueError):
        mpegts.TsStream(width=72, height=64, encoder="pure")


@pytest.mark.skipif(not mpegts.av_available(), reason="PyAV not installed")
def test_ffmpeg_decodes_pcm_idr_and_skips_exactly():
    import av

    W, H = 48, 32
    y = bytes((x * 3 + r * 7) % 256 for r in range(H) for x in range(W))  # includes 0x00..0x03 (escaping)
    u = bytes((i * 5) % 256 for i in range(W * H // 4))
    v = bytes(255 - (i % 256) for i in range(W * H // 4))
    es = h264.aud(True) + h264.sps(W, H) + h264.pps() + h264.idr_pcm(W, H, y, u, v, idr_pic_id=7)
    for k in range(1, 20):  # frame_num wraps at 16
        es += h264.aud(False) + h264.p_skip(W, H, k)
    ctx = av.CodecContext.create("h264", "r")
    frames = []
    for pkt in ctx.parse(es) + ctx.parse(b""):
        frames += ctx.decode(pkt)
    frames += ctx.decode(None)
    assert len(frames) == 20

    def plane(f, i, w, h):
        p = f.planes[i]
        raw = bytes(p)
        return b"".join(raw[r * p.line_size:r * p.line_size + w] for r in range(h))

    for f in (frames[0], frames[19]):  # the IDR is exactly our samples; skipped pictures repeat it
        assert (f.width, f.height) == (W, H)
        assert plane(f, 0, W, H) == y
        assert plane(f, 1, W // 2, H // 2) == u and plane(f, 2, W // 2, H // 2) == v
