"""Fixtures of the workspace tests: a signed-in browser-less client per role."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client


@pytest.fixture
def web() -> Callable[[Any], Client]:
    """A Django test client signed in as ``user`` (None: anonymous)."""

    def client_for(user: Any) -> Client:
        client = Client()
        if user is not None:
            client.force_login(user)
        return client

    return client_for
