"""./demo on a machine without Odoo: which Odoo, from where, with which commands, and which
PostgreSQL (tools/odoo_setup.py and its use by ./demo). No network, no Odoo: a local git
repository stands for Odoo's source, fake programs for pip and PostgreSQL's."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.test_demo_command import demo, load_script  # noqa: E402  (./demo, loaded once)
from tools import odoo_setup  # noqa: E402


def fake_odoo_source(folder, serie=(18, 0), git=True):
    """A folder shaped like Odoo's source: odoo/release.py, requirements.txt, addons/."""
    folder = Path(folder)
    (folder / "odoo").mkdir(parents=True)
    (folder / "odoo" / "release.py").write_text(
        f"version_info = ({serie[0]}, {serie[1]}, 0, FINAL, 0, '')\n"
    )
    (folder / "requirements.txt").write_text("psycopg2==2.9.5\n")
    (folder / "addons" / "account_payment").mkdir(parents=True)
    (folder / "addons" / "account_payment" / "__manifest__.py").write_text("{}\n")
    if git:
        env = dict(
            os.environ,
            GIT_AUTHOR_NAME="t",
            GIT_AUTHOR_EMAIL="t@example.com",
            GIT_COMMITTER_NAME="t",
            GIT_COMMITTER_EMAIL="t@example.com",
        )
        for cmd in (["init", "-q", "-b", "18.0"], ["add", "."], ["commit", "-q", "-m", "odoo"]):
            subprocess.run(["git", "-C", str(folder), *cmd], check=True, env=env)
    return folder


# ---------------------------------------------------------------------------- where Odoo comes from
def test_default_source_is_a_shallow_clone_of_odoo_18(tmp_path):
    kind, cmd = odoo_setup.source_plan(None, tmp_path / "odoo")
    assert kind == "git"
    assert cmd == [
        "git",
        "clone",
        "--depth",
        "1",
        "--branch",
        "18.0",
        "--single-branch",
        "https://github.com/odoo/odoo",
        str(tmp_path / "odoo"),
    ]


@pytest.mark.parametrize(
    "url", ["https://example.com/me/odoo.git", "git@example.com:me/odoo.git", "file:///srv/odoo"]
)
def test_a_url_is_cloned_at_its_18_branch(tmp_path, url):
    kind, cmd = odoo_setup.source_plan(url, tmp_path / "odoo")
    assert kind == "git" and cmd[-2:] == [url, str(tmp_path / "odoo")]
    assert cmd[cmd.index("--branch") + 1] == "18.0" and "--depth" in cmd


def test_a_local_checkout_is_cloned_at_its_commit(tmp_path):
    source = fake_odoo_source(tmp_path / "src")
    kind, cmd = odoo_setup.source_plan(str(source), tmp_path / "odoo")
    assert kind == "git"
    assert cmd == ["git", "clone", "--depth", "1", f"file://{source}", str(tmp_path / "odoo")]


def test_a_local_folder_without_git_is_copied(tmp_path):
    source = fake_odoo_source(tmp_path / "src", git=False)
    assert odoo_setup.source_plan(str(source), tmp_path / "odoo") == ("copy", str(source))


def test_a_local_folder_that_is_not_odoo_is_refused(tmp_path):
    with pytest.raises(odoo_setup.SetupError, match="no such folder"):
        odoo_setup.source_plan(str(tmp_path / "nope"), tmp_path / "odoo")
    (tmp_path / "empty").mkdir()
    with pytest.raises(odoo_setup.SetupError, match="not Odoo's source"):
        odoo_setup.source_plan(str(tmp_path / "empty"), tmp_path / "odoo")


@pytest.mark.parametrize("git", [True, False])
def test_fetching_a_local_copy(tmp_path, git):
    source = fake_odoo_source(tmp_path / "src", git=git)
    dest = tmp_path / "var" / "odoo"
    odoo_setup.fetch_source(str(source), dest, tmp_path / "var" / "setup.log")
    assert odoo_setup.odoo_serie(dest) == "18.0"
    assert (dest / "addons" / "account_payment").is_dir()
    assert (dest / ".git").exists() is git


def test_an_odoo_of_another_series_is_refused_and_removed(tmp_path):
    source = fake_odoo_source(tmp_path / "src", serie=(17, 0))
    dest = tmp_path / "var" / "odoo"
    with pytest.raises(odoo_setup.SetupError, match="holds Odoo 17.0, not 18.0"):
        odoo_setup.fetch_source(str(source), dest, tmp_path / "setup.log")
    assert not dest.exists()


def test_a_failed_clone_says_where_its_log_is(tmp_path):
    log = tmp_path / "setup.log"
    with pytest.raises(odoo_setup.SetupError, match="fetching Odoo's source failed"):
        odoo_setup.fetch_source(f"file://{tmp_path}/no-repo", tmp_path / "odoo", log)
    assert "git clone" in log.read_text() and not (tmp_path / "odoo").exists()


# ---------------------------------------------------------------------------- which Odoo runs
@pytest.mark.parametrize(
    ("odoo_bin", "odoo_src", "current", "venv", "expected"),
    [
        ("/o/odoo-bin", None, True, True, "odoo-bin"),  # --odoo-bin wins
        (None, None, True, False, "current"),  # this python's Odoo, as before
        (None, None, False, False, "project"),  # no Odoo: set it up
        (None, "/opt/odoo", True, False, "project"),  # asked for
        (None, None, True, True, "project"),  # set up before: the same one
    ],
)
def test_which_odoo(odoo_bin, odoo_src, current, venv, expected):
    assert odoo_setup.choose_odoo(odoo_bin, odoo_src, current, venv) == expected


def test_odoo_src_and_odoo_bin_together_are_refused(tmp_path, capsys):
    with pytest.raises(SystemExit):
        demo.parse_args(["--odoo-src", "/x", "--odoo-bin", "/y"], state_file=tmp_path / "demo.json")
    assert "one or the other" in capsys.readouterr().err


def test_odoo_importable_probe(tmp_path):
    python = tmp_path / "python"
    python.write_text("#!/bin/sh\necho 18.0\n")
    python.chmod(0o755)
    assert odoo_setup.odoo_importable(python)
    python.write_text("#!/bin/sh\necho 17.0\n")
    assert not odoo_setup.odoo_importable(python)
    python.write_text("#!/bin/sh\nexit 1\n")
    assert not odoo_setup.odoo_importable(python)


# ---------------------------------------------------------------------------- the environment
def test_venv_commands(tmp_path):
    cmds = odoo_setup.venv_commands("/usr/bin/python3.11", tmp_path / "venv", "/p/var/odoo", "/p")
    vpy = str(tmp_path / "venv" / "bin" / "python")
    assert cmds == [
        ["/usr/bin/python3.11", "-m", "venv", str(tmp_path / "venv")],
        [vpy, "-m", "pip", "install", "-r", "/p/var/odoo/requirements.txt"],
        [vpy, "-m", "pip", "install", "-r", "/p/requirements.txt"],
        [vpy, "-m", "pip", "install", "--no-deps", "-e", "/p/var/odoo"],
    ]


def test_pip_builds_with_setuptools_below_80(tmp_path):
    env = odoo_setup.constraints_env(tmp_path / "c.txt", {"PATH": "/bin"})
    assert env["PIP_CONSTRAINT"] == str(tmp_path / "c.txt") and env["PATH"] == "/bin"
    env = odoo_setup.constraints_env(tmp_path / "c.txt", {"PIP_CONSTRAINT": "/mine.txt"})
    assert env["PIP_CONSTRAINT"] == f"/mine.txt {tmp_path / 'c.txt'}"
    assert odoo_setup.BUILD_CONSTRAINTS.strip() == "setuptools<80"


def test_base_python():
    def which(name):
        return {"python3.12": "/usr/bin/python3.12", "python3.10": "/usr/bin/python3.10"}.get(name)

    assert odoo_setup.base_python("/me/python", (3, 11), which) == "/me/python"
    assert odoo_setup.base_python("/me/python", (3, 13), which) == "/usr/bin/python3.12"
    assert odoo_setup.base_python("/me/python", (3, 9), lambda name: None) is None


@pytest.mark.parametrize(
    ("output", "expected"),
    [
        ("fatal error: lber.h: No such file or directory", "libldap2-dev libsasl2-dev"),
        ("ERROR: Failed building wheel for python-ldap", "libldap2-dev libsasl2-dev"),
        ("Error: pg_config executable not found.", "libpq-dev"),
        ("fatal error: Python.h: No such file or directory", "python3-dev"),
        ("error: command 'x86_64-linux-gnu-gcc' failed", "build-essential"),
        ("ERROR: ResolutionImpossible: for help", "no versions suiting"),
        ("something else", "sudo apt-get install -y build-essential"),
    ],
)
def test_a_failed_build_says_what_to_install(output, expected):
    assert expected in "\n".join(odoo_setup.pip_failure_hint(output))


def test_python_ldap_merely_collected_is_no_failure():
    hints = odoo_setup.pip_failure_hint("Collecting python-ldap==3.4.0\nIgnoring python-ldap")
    assert not any(hint.startswith("python-ldap") for hint in hints)


def fake_python(tmp_path, fail_on=None):
    """A python that logs its calls and makes a venv's bin/python when asked `-m venv`."""
    calls = tmp_path / "calls.txt"
    script = tmp_path / "python"
    fail = (
        f'case "$*" in *"{fail_on}"*) echo "fatal error: lber.h"; exit 1;; esac' if fail_on else ""
    )
    script.write_text(
        "#!/bin/sh\n"
        f'echo "$0 $* PIP_CONSTRAINT=$PIP_CONSTRAINT" >> {calls}\n'
        f"{fail}\n"
        'if [ "$1 $2" = "-m venv" ]; then mkdir -p "$3/bin"; cp "$0" "$3/bin/python"; fi\n'
    )
    script.chmod(0o755)
    return str(script), calls


def test_the_environment_is_made_once(tmp_path):
    odoo_dir = fake_odoo_source(tmp_path / "var" / "odoo", git=False)
    python, calls = fake_python(tmp_path)
    var = tmp_path / "var"
    assert odoo_setup.make_venv(var / "venv", odoo_dir, var, ROOT, python)
    lines = calls.read_text().splitlines()
    assert len(lines) == 4 and "-m venv" in lines[0]
    assert all(f"PIP_CONSTRAINT={var / 'pip-build-constraints.txt'}" in line for line in lines[1:])
    assert "setuptools<80" in (var / "pip-build-constraints.txt").read_text()
    assert not odoo_setup.make_venv(var / "venv", odoo_dir, var, ROOT, python)  # up to date
    assert len(calls.read_text().splitlines()) == 4
    (odoo_dir / "requirements.txt").write_text("psycopg2==2.9.9\n")  # changed: pip again
    assert odoo_setup.make_venv(var / "venv", odoo_dir, var, ROOT, python)
    assert len(calls.read_text().splitlines()) == 7  # the venv is kept


def test_a_failed_python_ldap_build_says_so(tmp_path):
    odoo_dir = fake_odoo_source(tmp_path / "var" / "odoo", git=False)
    python, _calls = fake_python(tmp_path, fail_on="odoo/requirements.txt")
    var = tmp_path / "var"
    with pytest.raises(odoo_setup.SetupError) as info:
        odoo_setup.make_venv(var / "venv", odoo_dir, var, ROOT, python)
    assert "lber.h" in str(info.value) and "libldap2-dev libsasl2-dev" in str(info.value)
    assert not odoo_setup.venv_ready(var / "venv")


def test_setting_up_from_a_local_copy_then_another(tmp_path, monkeypatch):
    made = []
    monkeypatch.setattr(odoo_setup, "make_venv", lambda venv, odoo, var, root: made.append(odoo))
    first = fake_odoo_source(tmp_path / "first")
    var, state = tmp_path / "var", {}
    python = odoo_setup.setup_project_odoo(var, str(first), state)
    assert python == var / "venv" / "bin" / "python"
    assert state["odoo_src"] == str(first) and odoo_setup.odoo_serie(var / "odoo") == "18.0"
    marker = var / "odoo" / "kept"
    marker.write_text("")
    odoo_setup.setup_project_odoo(var, None, state)  # no source given: the one there
    odoo_setup.setup_project_odoo(var, str(first), state)  # the same: kept
    assert marker.exists() and len(made) == 3
    second = fake_odoo_source(tmp_path / "second", git=False)
    odoo_setup.setup_project_odoo(var, str(second), state)  # another one: replaced
    assert not marker.exists() and state["odoo_src"] == str(second)


def test_demo_sets_odoo_up_and_runs_again_in_the_environment(tmp_path, monkeypatch):
    """Without Odoo, ./demo --odoo-src X sets var/odoo and var/venv up, then runs itself
    again with var/venv's python and the same arguments."""
    monkeypatch.setattr(demo, "VAR", tmp_path / "var")
    monkeypatch.setattr(odoo_setup, "odoo_importable", lambda python: False)
    setups, execs = [], []

    def setup(var, source, state, root):
        setups.append((var, source))
        state["odoo_src"] = source
        return var / "venv" / "bin" / "python"

    monkeypatch.setattr(odoo_setup, "setup_project_odoo", setup)
    monkeypatch.setattr(demo.os, "execv", lambda path, argv: execs.append((path, argv)))
    argv = ["--odoo-src", "/opt/odoo18", "--db", "x"]
    args = demo.parse_args(argv, state_file=tmp_path / "var" / "demo.json")
    demo.prepare_odoo(args, argv)
    python = str(tmp_path / "var" / "venv" / "bin" / "python")
    assert setups == [(tmp_path / "var", "/opt/odoo18")]
    assert execs == [(python, [python, str(ROOT / "demo"), *argv])]
    assert json.loads((tmp_path / "var" / "demo.json").read_text())["odoo_src"] == "/opt/odoo18"


def test_demo_keeps_the_odoo_of_this_python(tmp_path, monkeypatch):
    monkeypatch.setattr(demo, "VAR", tmp_path / "var")
    monkeypatch.setattr(odoo_setup, "odoo_importable", lambda python: True)
    monkeypatch.setattr(odoo_setup, "setup_project_odoo", lambda *a: pytest.fail("set up"))
    args = demo.parse_args([], state_file=tmp_path / "var" / "demo.json")
    assert demo.prepare_odoo(args, []) is None


def test_a_setup_failure_exits_2_with_its_message(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(demo, "VAR", tmp_path / "var")
    monkeypatch.setattr(odoo_setup, "odoo_importable", lambda python: False)
    assert demo.main(["--odoo-src", str(tmp_path / "nope")]) == 2
    assert "demo: cannot start: --odoo-src" in capsys.readouterr().err


# ---------------------------------------------------------------------------- PostgreSQL
def test_postgres_the_running_server_first():
    assert odoo_setup.choose_postgres({}, True, "/usr/lib/postgresql/15/bin") == "server"
    assert odoo_setup.choose_postgres({}, True, None) == "server"
    # PGHOST/PGPORT given: that server, even when it does not answer (its error is told).
    assert odoo_setup.choose_postgres({"PGPORT": "5433"}, False, "/pg/bin") == "server"


def test_postgres_else_a_cluster_of_the_project():
    assert odoo_setup.choose_postgres({}, False, "/usr/lib/postgresql/15/bin") == "local"
    assert odoo_setup.choose_postgres({}, True, "/pg/bin", local_asked=True) == "local"


def test_postgres_else_the_command_that_installs_it(monkeypatch):
    monkeypatch.setattr(
        odoo_setup.shutil, "which", lambda name: "/usr/bin/apt-get" if name == "apt-get" else None
    )
    with pytest.raises(odoo_setup.SetupError) as info:
        odoo_setup.choose_postgres({}, False, None)
    assert "sudo apt-get install -y postgresql" in str(info.value)
    with pytest.raises(odoo_setup.SetupError, match="--local-postgres needs"):
        odoo_setup.choose_postgres({}, True, None, local_asked=True)


def test_install_command_per_system():
    def which(found):
        return lambda name: f"/usr/bin/{name}" if name == found else None

    assert odoo_setup.install_postgres_command(which("apt-get"), "Linux").startswith(
        "sudo apt-get install -y postgresql"
    )
    assert "dnf install" in odoo_setup.install_postgres_command(which("dnf"), "Linux")
    assert "brew install" in odoo_setup.install_postgres_command(which(None), "Darwin")


def test_postgres_programs_on_path_or_in_debians_folder(tmp_path):
    for version in ("13", "15"):
        folder = tmp_path / "postgresql" / version / "bin"
        folder.mkdir(parents=True)
        (folder / "initdb").touch()
        (folder / "pg_ctl").touch()
    pattern = str(tmp_path / "postgresql" / "*" / "bin")
    assert odoo_setup.postgres_bin_dir(lambda n: None, pattern) == str(
        tmp_path / "postgresql" / "15" / "bin"
    )
    assert odoo_setup.postgres_bin_dir(lambda n: f"/opt/pg/bin/{n}", pattern) == "/opt/pg/bin"
    assert odoo_setup.postgres_bin_dir(lambda n: None, str(tmp_path / "none" / "*")) is None


def test_local_cluster_commands(tmp_path):
    cmds = odoo_setup.local_cluster_commands(
        "/pg/bin", tmp_path / "pgdata", 5433, tmp_path / "pw", tmp_path / "pg.log"
    )
    initdb = cmds["initdb"]
    assert initdb[:3] == ["/pg/bin/initdb", "-D", str(tmp_path / "pgdata")]
    assert initdb[initdb.index("-U") + 1] == "odoo"  # a dedicated role, never `postgres`
    assert "--auth-host=scram-sha-256" in initdb and str(tmp_path / "pw") in initdb
    start = cmds["start"]
    assert start[0] == "/pg/bin/pg_ctl" and start[-1] == "start" and "-w" in start
    options = start[start.index("-o") + 1]
    assert "-p 5433" in options and "listen_addresses=127.0.0.1" in options


def test_the_cluster_runs_as_postgres_when_root(monkeypatch):
    assert odoo_setup.cluster_user(euid=1000) is None
    monkeypatch.setattr(odoo_setup.pwd, "getpwnam", lambda name: object())
    assert odoo_setup.cluster_user(euid=0) == "postgres"

    def no_user(name):
        raise KeyError(name)

    monkeypatch.setattr(odoo_setup.pwd, "getpwnam", no_user)
    with pytest.raises(odoo_setup.SetupError, match="refuse to run as root"):
        odoo_setup.cluster_user(euid=0)


def test_demo_uses_the_project_cluster_when_no_server_answers(tmp_path, monkeypatch):
    monkeypatch.setattr(demo, "VAR", tmp_path / "var")
    monkeypatch.setattr(odoo_setup, "reachable", lambda host, port: False)
    monkeypatch.setattr(odoo_setup, "postgres_bin_dir", lambda: "/pg/bin")
    monkeypatch.setattr(odoo_setup, "cluster_user", lambda: None)
    monkeypatch.delenv("PGHOST", raising=False)
    monkeypatch.delenv("PGPORT", raising=False)
    started = []
    monkeypatch.setattr(
        odoo_setup.LocalCluster, "ensure_running", lambda self: started.append(self) or self.params
    )
    args = demo.parse_args([], state_file=tmp_path / "var" / "demo.json")
    pg, cluster = demo.choose_postgres(args)
    assert started == [cluster] and pg["user"] == "odoo" and pg["host"] == "127.0.0.1"
    remembered = json.loads((tmp_path / "var" / "demo.json").read_text())["local_postgres"]
    assert remembered == {"port": int(pg["port"]), "password": pg["password"]}


def test_demo_uses_the_server_that_answers(tmp_path, monkeypatch):
    monkeypatch.setattr(demo, "VAR", tmp_path / "var")
    monkeypatch.setattr(odoo_setup, "reachable", lambda host, port: True)
    monkeypatch.setattr(demo, "check_postgres", lambda pg: None)
    monkeypatch.setenv("PGUSER", "someone")
    args = demo.parse_args([], state_file=tmp_path / "var" / "demo.json")
    pg, cluster = demo.choose_postgres(args)
    assert cluster is None and pg["user"] == "someone"


def test_local_cluster_for_real():
    """initdb, start, a query with the dedicated role, stop: in a temporary folder (under /tmp,
    which the `postgres` user running the cluster for root can reach)."""
    bin_dir = odoo_setup.postgres_bin_dir()
    assert bin_dir, "PostgreSQL's programs (initdb, pg_ctl) are needed by this test"
    folder = Path(tempfile.mkdtemp(prefix="isanet-pgtest-"))
    folder.chmod(0o755)
    state = {}
    try:
        cluster = odoo_setup.LocalCluster(folder / "var", bin_dir, state)
        assert state["local_postgres"]["port"] == cluster.port
        try:
            pg = cluster.ensure_running()
            assert pg["user"] == "odoo" and pg["password"]
            assert demo.pg_query(pg, "SELECT current_user") == "odoo"
            wrong = dict(pg, password="wrong")
            with pytest.raises(RuntimeError, match="password authentication failed"):
                demo.pg_query(wrong, "SELECT 1")
        finally:
            cluster.stop()
        assert not odoo_setup.reachable("127.0.0.1", pg["port"])
    finally:
        shutil.rmtree(folder, ignore_errors=True)


# ---------------------------------------------------------------------------- ./run_tests
run_tests = load_script("run_tests", "run_tests_command")


def ready_venv(var):
    (var / "venv" / "bin").mkdir(parents=True)
    (var / "venv" / "bin" / "python").touch()
    (var / "venv" / ".isanet-setup").write_text("x\n")


def test_run_tests_goes_into_the_project_environment(tmp_path, monkeypatch):
    """No Odoo here, ./demo's environment there: the tests run in it, its test tools
    installed first."""
    monkeypatch.setattr(run_tests, "VAR", tmp_path / "var")
    ready_venv(tmp_path / "var")
    monkeypatch.setattr(odoo_setup, "odoo_importable", lambda python: False)
    calls = []
    monkeypatch.setattr(
        odoo_setup, "ensure_dev_requirements", lambda venv, var, root: calls.append("dev")
    )
    monkeypatch.setattr(run_tests.os, "execv", lambda path, argv: calls.append((path, argv)))
    run_tests.use_project_environment(["--odoo-only"])
    python = str(tmp_path / "var" / "venv" / "bin" / "python")
    assert calls == ["dev", (python, [python, str(ROOT / "run_tests"), "--odoo-only"])]


@pytest.mark.parametrize(("importable", "ready"), [(True, True), (False, False)])
def test_run_tests_stays_here(tmp_path, monkeypatch, importable, ready):
    """This python's Odoo, or no project environment: nothing changes (the Odoo tests say
    they are skipped, and why, as before)."""
    monkeypatch.setattr(run_tests, "VAR", tmp_path / "var")
    if ready:
        ready_venv(tmp_path / "var")
    monkeypatch.setattr(odoo_setup, "odoo_importable", lambda python: importable)
    monkeypatch.setattr(run_tests.os, "execv", lambda *a: pytest.fail("ran again"))
    run_tests.use_project_environment([])


def test_dev_requirements_installed_once(tmp_path, monkeypatch):
    ready_venv(tmp_path / "var")
    runs = []
    monkeypatch.setattr(
        odoo_setup, "run_logged", lambda cmd, log, env=None, cwd=None: runs.append(env) or 0
    )
    venv = tmp_path / "var" / "venv"
    assert odoo_setup.ensure_dev_requirements(venv, tmp_path / "var", ROOT)
    assert not odoo_setup.ensure_dev_requirements(venv, tmp_path / "var", ROOT)
    assert len(runs) == 1 and "pip-build-constraints.txt" in runs[0]["PIP_CONSTRAINT"]


def test_run_tests_uses_the_project_cluster_when_no_server_answers(tmp_path, monkeypatch):
    var = tmp_path / "var"
    (var / "pgdata").mkdir(parents=True)
    (var / "pgdata" / "PG_VERSION").write_text("15\n")
    (var / "demo.json").write_text(json.dumps({"local_postgres": {"port": 5999, "password": "pw"}}))
    monkeypatch.setattr(run_tests, "VAR", var)
    monkeypatch.setattr(odoo_setup, "postgres_bin_dir", lambda: "/pg/bin")
    monkeypatch.setattr(odoo_setup, "cluster_user", lambda: None)
    monkeypatch.setattr(odoo_setup.LocalCluster, "ensure_running", lambda self: self.params)
    for name in ("PGHOST", "PGPORT", "PGUSER", "PGPASSWORD"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(odoo_setup, "reachable", lambda host, port: True)
    assert run_tests.project_postgres() is None  # a server answers: that one
    monkeypatch.setattr(odoo_setup, "reachable", lambda host, port: False)
    cluster = run_tests.project_postgres()
    assert cluster.port == 5999
    assert (os.environ["PGHOST"], os.environ["PGPORT"]) == ("127.0.0.1", "5999")
    assert (os.environ["PGUSER"], os.environ["PGPASSWORD"]) == ("odoo", "pw")
