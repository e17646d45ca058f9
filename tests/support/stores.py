"""Which store the tests run on, and each test's own settings: the embedded store, or MongoDB
when MEMQL_TEST_MONGODB_URL is set (`python -m tests.wire_server` starts one)."""

from __future__ import annotations

import os
import uuid
from typing import Any

import pytest

from app.settings import Settings

TEST_MONGODB_URL = os.environ.get("MEMQL_TEST_MONGODB_URL") or None
ON_MONGODB = TEST_MONGODB_URL is not None

requires_mongodb = pytest.mark.skipif(
    not ON_MONGODB,
    reason="needs MongoDB: set MEMQL_TEST_MONGODB_URL (`python -m tests.wire_server` starts one)",
)


def make_settings(**overrides: Any) -> Settings:
    """Settings for one test: its own database, never the developer's environment."""
    values: dict[str, Any] = {
        "mongodb_url": TEST_MONGODB_URL,
        "database": f"memql_test_{uuid.uuid4().hex[:12]}",
        "data_dir": None,
        "_env_file": None,
    }
    values.update(overrides)
    return Settings(**values)
