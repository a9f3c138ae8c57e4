"""Fixtures of the web-app tests: an app on a fake recognizer (no model needed)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # serve_helpers, whatever the import mode

from serve_helpers import FakeModels  # noqa: E402

from digitkit.serve.app import Limits, create_app  # noqa: E402


@pytest.fixture
def fake_models() -> FakeModels:
    return FakeModels()


@pytest.fixture
def fake_app(fake_models: FakeModels):
    return create_app(fake_models.load, fake_models.list, limits=Limits(workers=2))


@pytest.fixture
def client(fake_app):
    from fastapi.testclient import TestClient

    with TestClient(fake_app) as c:
        yield c


@pytest.fixture(scope="session")
def artifacts_dir(tmp_path_factory) -> Path:
    """Where screenshots go (DIGITKIT_ARTIFACTS overrides, e.g. for CI uploads)."""
    import os

    root = os.environ.get("DIGITKIT_ARTIFACTS")
    path = Path(root) if root else tmp_path_factory.mktemp("artifacts")
    path.mkdir(parents=True, exist_ok=True)
    return path
