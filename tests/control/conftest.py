"""Fixtures of the control API tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from ..esme import Esme


@pytest.fixture
async def opened() -> AsyncIterator[list[Esme]]:
    """ESMEs the test connected; their sockets are closed at the end."""
    esmes: list[Esme] = []
    yield esmes
    for esme in esmes:
        await esme.stream.aclose()
