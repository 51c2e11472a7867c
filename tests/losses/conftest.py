"""Fixtures of the loss tests."""

import pytest

from losses.base import REGISTRY


@pytest.fixture
def clean_registry():
    """Whatever a test registers (users' losses, plug-ins) is gone after it."""
    before = dict(REGISTRY)
    yield REGISTRY
    REGISTRY.clear()
    REGISTRY.update(before)
