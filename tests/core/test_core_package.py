"""The core stays framework-free: only stdlib, gocardless_pro and phonenumbers."""

import ast
import sys
from pathlib import Path

import gocardless_core

ALLOWED_THIRD_PARTY = {"gocardless_pro", "phonenumbers", "requests"}
PACKAGE_DIR = Path(gocardless_core.__file__).resolve().parent


def _imported_modules(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            yield node.module


def test_core_imports_no_framework():
    sources = sorted(PACKAGE_DIR.glob("*.py"))
    assert len(sources) >= 10
    for path in sources:
        for module in _imported_modules(path):
            top = module.split(".")[0]
            assert top in sys.stdlib_module_names or top in ALLOWED_THIRD_PARTY, (path, module)
            assert top != "odoo"


def test_every_module_is_exposed():
    modules = {p.stem for p in PACKAGE_DIR.glob("*.py")} - {"__init__"}
    assert modules == {
        "amounts", "catchup", "client", "customers", "debits", "errors", "events", "oauth",
        "pacing", "payouts", "phones", "refunds", "schemes",
        "webhooks",
    }  # fmt: skip
    assert all(hasattr(gocardless_core, name) for name in modules)
