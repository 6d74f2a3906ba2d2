"""Reading trickle output the way the livepeer-gateway SDK does, for the tests (one copy of the loop)."""
from __future__ import annotations


async def segments(url: str, *, start_seq: int = 0):
    """Yield ``(segment, body)`` for each segment of ``url`` until the end of the stream (404)."""
    from livepeer_gateway.trickle_subscriber import TrickleSubscriber  # the SDK is a test-only dependency

    async with TrickleSubscriber(url, start_seq=start_seq) as sub:
        while (seg := await sub.next()) is not None:
            rd, buf = seg.make_reader(), bytearray()
            while (c := await rd.read()) is not None:
                buf += c
            try:
                yield seg, bytes(buf)
            finally:
                await seg.close()


async def read_all(url: str, out: list, start_seq: int = 0) -> None:
    """Append every segment's body to ``out`` (a list the test watches while this runs)."""
    async for _, body in segments(url, start_seq=start_seq):
        out.append(body)
