"""Snapshots of the TUI's main frames (pytest-textual-snapshot). Update with ``--snapshot-update`` after
checking the HTML diff report; the entry point is tests/tui_snapshot_app.py."""
from __future__ import annotations

import pytest

from tests.tui_snapshot_app import FRAMES, no_blink


@pytest.mark.parametrize("frame", list(FRAMES))
def test_frame(frame, snap_compare):
    factory, keys, run_before, size = FRAMES[frame]
    assert snap_compare(factory(), press=keys, terminal_size=size, run_before=run_before or no_blink)
