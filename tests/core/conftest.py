"""Shared fixtures of the Odoo-free core tests."""

import json
import os
from pathlib import Path

import pytest


def _fixtures_dir():
    """Return the GoCardless SDK fixtures folder, failing loudly if it is missing."""
    configured = os.environ.get("GOCARDLESS_FIXTURES_DIR")
    if configured:
        path = Path(configured)
    else:
        path = Path(__file__).resolve().parents[1] / "fixtures" / "gocardless"
    if not (path / "webhook_body.json").is_file():
        raise RuntimeError(
            f"GoCardless fixtures not found in {path}; set GOCARDLESS_FIXTURES_DIR "
            "to the folder holding the SDK's tests/fixtures/*.json files."
        )
    return path


@pytest.fixture(scope="session", autouse=True)
def fixtures_dir():
    """Folder of the GoCardless SDK JSON fixtures; every test errors if it is missing."""
    return _fixtures_dir()


@pytest.fixture(scope="session")
def load_fixture(fixtures_dir):
    """Return a function loading one fixture file as JSON."""

    def load(name):
        return json.loads((fixtures_dir / name).read_text(encoding="utf-8"))

    return load
