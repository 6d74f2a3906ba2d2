"""The generated MPEG-TS source: packet structure, PSI, continuity, PTS; real H.264 when PyAV is there."""
from __future__ import annotations

import io

import pytest

from sim.media import mpegts
from sim.media.mpegts import (
    PACKET_SIZE, PAT_PID, PMT_PID, PTS_HZ, VIDEO_PID, TsStream, crc32_mpeg2, parse_packets, pes_pts_list,
    segments,
)

ENCODERS = ["pure"] + (["av"] if mpegts.av_available() else [])


def test_crc32_mpeg2_check_value():
    assert crc32_mpeg2(b"123456789") == 0x0376E6E7  # the CRC-32/MPEG-2 catalogue check value


@pytest.mark.parametrize("encoder", ENCODERS)
def test_segments_are_valid_transport_streams(encoder):
    segs = list(segments(3, segment_s=0.5, fps=30, encoder=encoder))
    all_pkts = []
    for seg in segs:
        assert len(seg) % PACKET_SIZE == 0
        assert all(seg[i] == 0x47 for i in range(0, len(seg), PACKET_SIZE))
        pkts = parse_packets(seg)
        # every segment starts with PAT then PMT, so it can be decoded on its own
        assert (pkts[0].pid, pkts[0].pusi) == (PAT_PID, True)
        assert (pkts[1].pid, pkts[1].pusi) == (PMT_PID, True)
        assert {p.pid for p in pkts} == {PAT_PID, PMT_PID, VIDEO_PID}
        # first video packet is a random access point with a PCR
        first_video = next(p for p in pkts if p.pid == VIDEO_PID)
        assert first_video.adaptation[0] & 0x40 and first_video.adaptation[0] & 0x10
        assert len(pes_pts_list(pkts)) == 15
        all_pkts += pkts
    # continuity counters increase by one per payload packet, per PID, across segment boundaries
    last = {}
    for p in all_pkts:
        if p.has_payload:
            if p.pid in last:
                assert p.cc == (last[p.pid] + 1) % 16, p
            last[p.pid] = p.cc
    # PTS strictly increasing at 90 kHz / fps, continuing across segments
    pts = pes_pts_list(all_pkts)
    assert len(pts) == 45
    assert all(b - a == PTS_HZ // 30 for a, b in zip(pts, pts[1:]))


@pytest.mark.parametrize("encoder", ENCODERS)
def test_psi_sections_have_valid_crc(encoder):
    pkts = parse_packets(next(segments(1, encoder=encoder)))
    for p in pkts[:2]:
        pointer = p.payload[0]
        sec = p.payload[1 + pointer:]
        length = ((sec[1] & 0x0F) << 8) | sec[2]
        body = sec[:3 + length]
        assert crc32_mpeg2(body) == 0  # CRC over the section including its CRC is 0
    pat = pkts[0].payload[1:]
    assert pat[0] == 0x00 and ((pat[10] & 0x1F) << 8 | pat[11]) == PMT_PID
    pmt = pkts[1].payload[1:]
    assert pmt[0] == 0x02 and pmt[12] == 0x1B and ((pmt[13] & 0x1F) << 8 | pmt[14]) == VIDEO_PID


def test_parse_packets_rejects_garbage():
    with pytest.raises(ValueError, match="multiple of 188"):
        parse_packets(b"\x47" * 100)
    with pytest.raises(ValueError, match="sync byte"):
        parse_packets(b"\x00" * 188)


def test_bad_parameters():
    with pytest.raises(ValueError):
        TsStream(width=63)
    with pytest.raises(ValueError):
        TsStream(encoder="vp9")
    with pytest.raises(ValueError):
        TsStream(encoder="pure").segment(0)


@pytest.mark.skipif(not mpegts.av_available(), reason="PyAV with libx264 not installed")
@pytest.mark.parametrize("encoder", ENCODERS)
def test_segments_decode_with_ffmpeg(encoder):
    import av

    segs = list(segments(2, segment_s=1.0, fps=30, encoder=encoder))
    # each segment decodes on its own (starts with an IDR) ...
    for seg in segs:
        with av.open(io.BytesIO(seg), format="mpegts") as c:
            frames = list(c.decode(video=0))
        assert len(frames) == 30 and (frames[0].width, frames[0].height) == (64, 64)
    # ... and the concatenation is one continuous stream
    with av.open(io.BytesIO(b"".join(segs)), format="mpegts") as c:
        pts = [f.pts for f in c.decode(video=0)]
    assert len(pts) == 60 and pts == sorted(pts) and len(set(pts)) == 60
