"""Trickle channels (go-livepeer ``trickle/``) and the ``noop`` live-video-to-video pipeline.

``TrickleHub`` holds channels; ``TrickleApp(hub)`` serves them over HTTP as an ASGI app mounted at
``/ai/trickle/``; ``NoopJob(hub, manifest_id, on_segment=...)`` echoes a job's input to its output.
"""
from sim.trickle.channel import (  # noqa: F401
    MIME_JSON, MIME_MPEGTS, Channel, LocalPublisher, LocalSubscriber, SegmentDropped, TooManyChannels,
    TrickleConfig, TrickleHub,
)
from sim.trickle.noop import NoopJob, SegmentInfo, StopJob, channel_names, debit_hook  # noqa: F401
from sim.trickle.server import STATUS_FELL_BEHIND, TRICKLE_HTTP_PATH, TrickleApp, trickle_urls  # noqa: F401
