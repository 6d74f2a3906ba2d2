"""Suite-wide settings: running stacks register in a per-test-run folder, never in the user's own registry
(stack/registry.py), so `lpdev ps` on the machine is not filled by the tests and the tests do not see the user's
stacks."""
from __future__ import annotations

import os

import pytest


@pytest.fixture(autouse=True, scope="session")
def _private_stack_registry(tmp_path_factory):
    os.environ["LPDEV_STATE_DIR"] = str(tmp_path_factory.mktemp("lpdev-state"))
    yield
