"""The project's three import rules, checked on the source text (``ast``, nothing imported).

(a) ``isanet_gocardless/gocardless_core/`` imports no ``odoo`` and nothing of the addon
    outside itself (no relative import leaving the core, no ``isanet_gocardless...``).
(b) ``gocardless_sandbox/`` imports nothing of the addon (``isanet_gocardless``, its core as
    ``gocardless_core``) nor ``odoo``: it is an independent reading of GoCardless's API.
(c) ``isanet_gocardless/`` imports no ``gocardless_sandbox``, except its Odoo tests
    (``isanet_gocardless/tests/``), which may start the sandbox.

Static ``import``/``from ... import`` statements anywhere in a file (functions, ``try``,
``if TYPE_CHECKING``) count, and so do ``importlib.import_module("...")`` and
``__import__("...")`` called with a string literal.
"""

import ast
from pathlib import Path, PurePosixPath

import pytest

ROOT = Path(__file__).resolve().parents[1]

ADDON = ("isanet_gocardless",)
CORE = ("isanet_gocardless", "gocardless_core")
ADDON_TESTS = ("isanet_gocardless", "tests")
SANDBOX = ("gocardless_sandbox",)
DYNAMIC_IMPORTERS = {"import_module", "__import__"}


class Import:
    """One import found in a file.

    :param int line: its line number.
    :param str text: the statement or call, as source.
    :param targets: the dotted module names it may load, relative imports resolved; ``None``
        for a relative import climbing above the repository's top-level packages.
    :param bool relative: whether it was written relative (``from . import x``).
    :param base: for a relative import, the package it resolves to (before the names).
    """

    def __init__(self, line, text, targets, relative=False, base=None):
        self.line = line
        self.text = text
        self.targets = targets
        self.relative = relative
        self.base = base


def _resolve(package, level, module):
    """Return the parts of ``module`` imported ``level`` dots up from ``package``, or None."""
    if level == 0:
        return tuple(module.split(".")) if module else ()
    if level - 1 > len(package):
        return None
    base = package[: len(package) - (level - 1)]
    return base + (tuple(module.split(".")) if module else ())


def _dynamic_name(node, importer_names):
    """The module string of ``import_module("x")`` / ``__import__("x")``, else None."""
    func = node.func
    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
    if name not in importer_names or not node.args:
        return None
    first = node.args[0]
    if isinstance(first, ast.Constant) and isinstance(first.value, str):
        return first.value
    return None


def imports_of(rel_path, source):
    """Yield every :class:`Import` of a file.

    :param PurePosixPath rel_path: the file's path from the repository root.
    :param str source: its text.
    """
    package = rel_path.parent.parts
    tree = ast.parse(source, filename=str(rel_path))
    importer_names = set(DYNAMIC_IMPORTERS)
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "importlib":
            importer_names |= {
                alias.asname or alias.name for alias in node.names if alias.name in importer_names
            }
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(node.lineno, ast.unparse(node), [tuple(alias.name.split("."))])
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(package, node.level, node.module)
            if base is None:
                targets = [None]
            else:
                targets = [base] if node.module else []
                targets += [base + (alias.name,) for alias in node.names if alias.name != "*"]
            yield Import(
                node.lineno, ast.unparse(node), targets, relative=node.level > 0, base=base
            )
        elif isinstance(node, ast.Call):
            name = _dynamic_name(node, importer_names)
            if name is None:
                continue
            level = len(name) - len(name.lstrip("."))
            target = _resolve(package, level, name[level:])
            yield Import(
                node.lineno,
                ast.unparse(node),
                [target],
                relative=level > 0,
                base=target,
            )


def _under(parts, prefix):
    return parts is not None and parts[: len(prefix)] == prefix


def _is_odoo(parts):
    return parts is not None and parts[:1] == ("odoo",)


def core_violation(imp):
    """Rule (a): the core imports no odoo, and never leaves itself into the addon."""
    if imp.relative:
        return imp.base is None or not _under(imp.base, CORE)
    return any(_is_odoo(t) or _under(t, ADDON) for t in imp.targets)


def sandbox_violation(imp):
    """Rule (b): the sandbox imports neither the addon (nor its core) nor odoo."""
    if imp.relative and (imp.base is None or not _under(imp.base, SANDBOX)):
        return True
    return any(
        t is None or _is_odoo(t) or _under(t, ADDON) or _under(t, ("gocardless_core",))
        for t in imp.targets
    )


def addon_violation(imp):
    """Rule (c): the addon, its Odoo tests aside, imports no gocardless_sandbox."""
    return any(_under(t, SANDBOX) for t in imp.targets)


RULES = {
    "core": (lambda rel: _under(rel.parts, CORE), core_violation),
    "sandbox": (lambda rel: _under(rel.parts, SANDBOX), sandbox_violation),
    "addon": (
        lambda rel: _under(rel.parts, ADDON) and not _under(rel.parts, ADDON_TESTS),
        addon_violation,
    ),
}


def check(rule, rel_path, source):
    """Return the ``file:line: statement`` offences of one file against one rule."""
    applies, offends = RULES[rule]
    rel_path = PurePosixPath(rel_path)
    if not applies(rel_path):
        return []
    return [
        f"{rel_path}:{imp.line}: {imp.text}" for imp in imports_of(rel_path, source) if offends(imp)
    ]


def _sources(top):
    paths = sorted(p for p in (ROOT / top).rglob("*.py") if "__pycache__" not in p.parts)
    return [PurePosixPath(p.relative_to(ROOT).as_posix()) for p in paths]


def _offences(rule, top):
    files = [rel for rel in _sources(top) if RULES[rule][0](rel)]
    assert files, f"no Python file found for rule {rule!r} under {top}/: the test would be empty"
    found = []
    for rel in files:
        found += check(rule, rel, (ROOT / rel).read_text(encoding="utf-8"))
    return found


def test_core_imports_no_odoo_nor_the_addon():
    offences = _offences("core", "isanet_gocardless/gocardless_core")
    assert not offences, (
        "isanet_gocardless/gocardless_core/ must stay framework-free (no odoo, nothing of the "
        "addon outside the core):\n" + "\n".join(offences)
    )


def test_sandbox_imports_nothing_of_the_addon():
    offences = _offences("sandbox", "gocardless_sandbox")
    assert not offences, (
        "gocardless_sandbox/ must import nothing of the addon (isanet_gocardless, "
        "gocardless_core) nor odoo:\n" + "\n".join(offences)
    )


def test_addon_does_not_import_the_sandbox():
    offences = _offences("addon", "isanet_gocardless")
    assert not offences, (
        "isanet_gocardless/ (its tests/ aside) must not import gocardless_sandbox:\n"
        + "\n".join(offences)
    )


# --- The checker itself: it flags what it must, and only that. -----------------------------

CORE_FILE = "isanet_gocardless/gocardless_core/client.py"
CORE_INIT = "isanet_gocardless/gocardless_core/__init__.py"
SANDBOX_FILE = "gocardless_sandbox/server.py"
MODEL_FILE = "isanet_gocardless/models/payment_provider.py"
ADDON_TEST_FILE = "isanet_gocardless/tests/common.py"
ADDON_NEW_TEST_FILE = "isanet_gocardless/tests/test_x.py"
HOOKS_FILE = "isanet_gocardless/hooks.py"


# Snippets the checker must flag (True) or allow (False), in a file of a rule's tree.
SNIPPETS = [
    (
        "sandbox",
        SANDBOX_FILE,
        "import importlib\nimportlib.import_module('isanet_gocardless')",
        True,
    ),
    ("core", CORE_FILE, "import odoo", True),
    ("core", CORE_FILE, "import odoo.tools as tools", True),
    ("core", CORE_FILE, "from odoo import fields", True),
    ("core", CORE_FILE, "from odoo.exceptions import UserError", True),
    ("core", CORE_FILE, "from odoo.addons.payment import utils", True),
    ("core", CORE_FILE, "def f():\n    from odoo.http import request\n    return request", True),
    ("core", CORE_FILE, "try:\n    import odoo\nexcept ImportError:\n    odoo = None", True),
    ("core", CORE_FILE, "from .. import const", True),
    ("core", CORE_FILE, "from ..models import payment_provider", True),
    ("core", CORE_FILE, "from ...odoo import api", True),
    ("core", CORE_INIT, "from .. import utils", True),
    ("core", CORE_FILE, "import isanet_gocardless.gocardless_core.errors", True),
    ("core", CORE_FILE, "from isanet_gocardless import const", True),
    ("core", CORE_FILE, "import importlib\nimportlib.import_module('odoo.tools')", True),
    ("core", CORE_FILE, "from importlib import import_module as load\nload('odoo')", True),
    ("core", CORE_FILE, "__import__('odoo.exceptions')", True),
    ("core", CORE_FILE, "import importlib\nimportlib.import_module('..const', __package__)", True),
    ("sandbox", SANDBOX_FILE, "import isanet_gocardless", True),
    ("sandbox", SANDBOX_FILE, "from isanet_gocardless.gocardless_core import amounts", True),
    ("sandbox", SANDBOX_FILE, "from gocardless_core import webhooks", True),
    ("sandbox", SANDBOX_FILE, "import gocardless_core.client", True),
    ("sandbox", SANDBOX_FILE, "from odoo import http", True),
    ("sandbox", SANDBOX_FILE, "from .. import isanet_gocardless", True),
    ("sandbox", SANDBOX_FILE, "__import__('gocardless_core.events')", True),
    ("addon", MODEL_FILE, "import gocardless_sandbox", True),
    ("addon", MODEL_FILE, "from gocardless_sandbox.server import SandboxServer", True),
    ("addon", MODEL_FILE, "from gocardless_sandbox import testkit", True),
    ("addon", MODEL_FILE, "from ... import gocardless_sandbox", True),
    ("addon", CORE_FILE, "from gocardless_sandbox import engine", True),
    ("addon", HOOKS_FILE, "__import__('gocardless_sandbox')", True),
    ("addon", MODEL_FILE, "import importlib\nimportlib.import_module('gocardless_sandbox')", True),
    ("core", CORE_FILE, "import json\nimport requests\nimport gocardless_pro", False),
    ("core", CORE_FILE, "from . import errors\nfrom .errors import ApiCallError", False),
    ("core", CORE_INIT, "from . import amounts, client", False),
    ("core", CORE_FILE, "import gocardless_core.errors", False),
    ("core", CORE_FILE, "import importlib\nimportlib.import_module('.errors', __package__)", False),
    ("core", CORE_FILE, "MESSAGE = 'import odoo'\nprint('odoo')", False),
    ("core", CORE_FILE, "odoo_version = 18\nfrom odoo_free import x", False),
    ("sandbox", SANDBOX_FILE, "import json\nfrom . import engine\nfrom .core import Store", False),
    ("sandbox", SANDBOX_FILE, "import gocardless_pro", False),
    ("addon", MODEL_FILE, "from odoo import models\nfrom ..gocardless_core import oauth", False),
    ("addon", MODEL_FILE, "SANDBOX = 'gocardless_sandbox'", False),
    ("addon", ADDON_TEST_FILE, "from gocardless_sandbox import testkit", False),
    ("addon", ADDON_NEW_TEST_FILE, "import gocardless_sandbox.server", False),
    # A rule only looks at its own tree.
    ("core", MODEL_FILE, "from odoo import models", False),
    ("sandbox", MODEL_FILE, "import isanet_gocardless", False),
    ("addon", SANDBOX_FILE, "import gocardless_sandbox", False),
]


@pytest.mark.parametrize(
    ("rule", "path", "source"), [snippet[:3] for snippet in SNIPPETS if snippet[3]]
)
def test_checker_flags_offending_snippet(rule, path, source):
    offences = check(rule, path, source)
    assert offences, f"the {rule!r} rule missed {source!r} in {path}"
    assert all(offence.startswith(f"{path}:") for offence in offences)


def test_checker_reports_file_and_line():
    source = "import json\n\nfrom odoo import models\n"
    assert check("core", CORE_FILE, source) == [f"{CORE_FILE}:3: from odoo import models"]


@pytest.mark.parametrize(
    ("rule", "path", "source"), [snippet[:3] for snippet in SNIPPETS if not snippet[3]]
)
def test_checker_allows_legitimate_snippet(rule, path, source):
    assert check(rule, path, source) == []
