"""Test databases are named per clone: two clones on one PostgreSQL never drop each other's."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tools import odoo_harness  # noqa: E402


class FakePostgres:
    """The databases of one PostgreSQL server, driven through the harness's `psql`."""

    def __init__(self):
        self.databases = {"postgres"}
        self.statements = []

    def psql(self, sql, dbname="postgres"):
        self.statements.append(sql)
        ok = subprocess.CompletedProcess([], 0, "", "")
        if match := re.match(r"SELECT 1 FROM pg_database WHERE datname = '(.+)'", sql):
            ok.stdout = "1\n" if match[1] in self.databases else ""
        elif match := re.match(r'DROP DATABASE IF EXISTS "(.+)"', sql):
            self.databases.discard(match[1])
        elif match := re.match(r'CREATE DATABASE "(.+)" TEMPLATE "(.+)"', sql):
            if match[2] not in self.databases:
                return subprocess.CompletedProcess([], 1, "", f'template "{match[2]}" missing')
            self.databases.add(match[1])
        else:
            raise AssertionError(f"unexpected SQL: {sql}")
        return ok


@pytest.fixture
def server(monkeypatch):
    pg = FakePostgres()
    monkeypatch.setattr(odoo_harness, "psql", pg.psql)
    monkeypatch.setattr(odoo_harness, "odoo_release", lambda: "18.0 /opt/odoo/odoo/release.py\n")
    monkeypatch.setattr(odoo_harness, "free_port", lambda: 8069)
    clock = iter(range(1_800_000_000, 1_900_000_000))  # one run per second
    monkeypatch.setattr(odoo_harness.time, "time", lambda: next(clock))

    def build_template(cmd, cwd=None):  # stands for `odoo-bin -i account_payment`
        name = cmd[cmd.index("--database") + 1]
        data_dir = Path(cmd[cmd.index("--data-dir") + 1])
        pg.databases.add(name)
        (data_dir / "filestore" / name).mkdir(parents=True)
        return 0

    monkeypatch.setattr(odoo_harness.subprocess, "call", build_template)
    monkeypatch.setattr(odoo_harness, "odoo_addons_dir", lambda: "/opt/odoo/addons")
    return pg


def clone(tmp_path, name):
    root = tmp_path / name
    (root / "var" / "data").mkdir(parents=True)
    return root


def test_names_hold_the_clone_tag_and_fit_postgresql(tmp_path):
    first, second = tmp_path / "one" / "repo", tmp_path / "two" / "repo"
    assert odoo_harness.clone_tag(first) != odoo_harness.clone_tag(second)
    assert odoo_harness.clone_tag(first) == odoo_harness.clone_tag(first / "." / "x" / "..")
    assert odoo_harness.clone_tag() == odoo_harness.clone_tag(ROOT)
    for root in (first, second):
        name = odoo_harness.fresh_db_name(root=root)
        assert name.startswith(f"isanet_gc_test_{odoo_harness.clone_tag(root)}_")
        assert len(name) <= 63  # PostgreSQL's limit on identifiers


def test_two_clones_build_and_drop_only_their_own_databases(tmp_path, server):
    one, two = clone(tmp_path, "one"), clone(tmp_path, "two")
    data_one, data_two = one / "var" / "data", two / "var" / "data"
    db_one = odoo_harness.create_fresh_db(data_one, one / "var", root=one)
    template_one = odoo_harness.template_name(data_one, one)
    template_two = odoo_harness.template_name(data_two, two)
    assert template_one != template_two
    assert template_one.endswith(odoo_harness.clone_tag(one))

    # The second clone has no template of its own yet: it builds one, and drops nothing of
    # the first clone's (which used to share the template's name and drop it).
    db_two = odoo_harness.create_fresh_db(data_two, two / "var", root=two)
    assert {template_one, template_two, db_one, db_two} <= server.databases
    dropped = [sql for sql in server.statements if sql.startswith("DROP")]
    assert dropped == [
        f'DROP DATABASE IF EXISTS "{template_one}"',  # before building it: none there yet
        f'DROP DATABASE IF EXISTS "{template_two}"',
    ]

    # A clone whose filestore was wiped rebuilds its own template; the other clone's run goes on.
    server.statements.clear()
    shutil.rmtree(data_two / "filestore" / template_two)
    odoo_harness.create_fresh_db(data_two, two / "var", root=two)
    assert f'DROP DATABASE IF EXISTS "{template_one}"' not in server.statements
    odoo_harness.drop_db(db_one, data_one)
    assert template_one in server.databases and template_two in server.databases
    assert (data_one / "filestore" / template_one).is_dir()
    assert odoo_harness.create_fresh_db(data_one, one / "var", root=one) in server.databases


def test_a_second_run_of_a_clone_reuses_its_template(tmp_path, server):
    one = clone(tmp_path, "one")
    data = one / "var" / "data"
    odoo_harness.create_fresh_db(data, one / "var", root=one)
    server.statements.clear()
    second = odoo_harness.create_fresh_db(data, one / "var", root=one)
    assert not [sql for sql in server.statements if sql.startswith("DROP")]
    assert (data / "filestore" / second).is_dir()
