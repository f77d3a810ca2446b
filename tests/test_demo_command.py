"""The Odoo-free parts of ./demo: arguments, remembered state, prerequisite checks, ports."""

from __future__ import annotations

import getpass
import importlib.machinery
import importlib.util
import json
import os
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def load_script(path, name):
    """The Python script ``path`` of the repository (no ``.py``), loaded as the module ``name``."""
    loader = importlib.machinery.SourceFileLoader(name, str(ROOT / path))
    spec = importlib.util.spec_from_loader(name, loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


demo = load_script("demo", "demo_command")


def fake_odoo_bin(tmp_path, version="18.0", with_addons=True, code=0):
    """An executable answering `--version` like odoo-bin, next to an `addons/` folder."""
    folder = tmp_path / f"odoo-{version}"
    folder.mkdir()
    script = folder / "odoo-bin"
    script.write_text(f"#!/bin/sh\necho 'Odoo Server {version}'\nexit {code}\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    if with_addons:
        (folder / "addons" / "account_payment").mkdir(parents=True)
    return str(script)


@pytest.fixture
def listening():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    yield sock.getsockname()[1]
    sock.close()


def closed_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# ---------------------------------------------------------------------------- arguments
def test_defaults(tmp_path):
    args = demo.parse_args([], state_file=tmp_path / "demo.json")
    assert args.db == "isanet_gocardless_demo"
    assert (args.reset, args.update, args.port, args.sandbox_port, args.odoo_bin) == (
        False,
        False,
        None,
        None,
        None,
    )
    state = json.loads((tmp_path / "demo.json").read_text())
    assert state["access_token"].startswith("demo_") and len(state["webhook_secret"]) > 20


def test_odoo_bin_and_secrets_are_remembered(tmp_path):
    state_file = tmp_path / "var" / "demo.json"
    first = demo.parse_args(
        ["--odoo-bin", str(tmp_path / "odoo-bin"), "--reset"], state_file=state_file
    )
    again = demo.parse_args([], state_file=state_file)
    assert again.odoo_bin == first.odoo_bin == str((tmp_path / "odoo-bin").resolve())
    assert again.state["access_token"] == first.state["access_token"]
    assert again.state["webhook_secret"] == first.state["webhook_secret"]
    assert not again.reset
    other = demo.parse_args(["--odoo-bin", "elsewhere/odoo-bin"], state_file=state_file)
    assert demo.parse_args([], state_file=state_file).odoo_bin == other.odoo_bin
    assert demo.parse_args(["--odoo-bin", ""], state_file=state_file).odoo_bin is None
    assert demo.parse_args([], state_file=state_file).odoo_bin is None
    assert "odoo_bin" not in json.loads(state_file.read_text())


def test_a_broken_state_file_is_replaced(tmp_path):
    state_file = tmp_path / "demo.json"
    state_file.write_text("{not json")
    args = demo.parse_args([], state_file=state_file)
    assert json.loads(state_file.read_text())["access_token"] == args.state["access_token"]


@pytest.mark.parametrize(
    "argv",
    [
        ["--port", "0"],
        ["--port", "70000"],
        ["--sandbox-port", "-1"],
        ["--port", "abc"],
        ["--bogus"],
    ],
)
def test_bad_arguments(tmp_path, argv, capsys):
    with pytest.raises(SystemExit) as info:
        demo.parse_args(argv, state_file=tmp_path / "demo.json")
    assert info.value.code == 2
    assert "usage: ./demo" in capsys.readouterr().err


# ---------------------------------------------------------------------------- Odoo
def test_odoo_bin_18(tmp_path):
    odoo_bin = fake_odoo_bin(tmp_path)
    assert demo.check_odoo(odoo_bin) == str(Path(odoo_bin).parent / "addons")
    assert demo.odoo_base_command(odoo_bin) == [odoo_bin]


def test_odoo_bin_not_18(tmp_path):
    with pytest.raises(demo.Missing, match="needs Odoo 18.0; found Odoo 17.0"):
        demo.check_odoo(fake_odoo_bin(tmp_path, "17.0"))


def test_odoo_bin_missing_or_broken(tmp_path):
    with pytest.raises(demo.Missing, match="does not exist"):
        demo.check_odoo(str(tmp_path / "nope" / "odoo-bin"))
    with pytest.raises(demo.Missing, match="--version failed"):
        demo.check_odoo(fake_odoo_bin(tmp_path, code=1))
    with pytest.raises(demo.Missing, match="standard addons"):
        demo.check_odoo(fake_odoo_bin(tmp_path, "18.0+e", with_addons=False))


def test_no_importable_odoo(tmp_path):
    python = tmp_path / "python"
    python.write_text("#!/bin/sh\nexit 1\n")
    python.chmod(0o755)
    with pytest.raises(demo.Missing, match="not importable") as info:
        demo.check_odoo(python=str(python))
    assert "--odoo-bin" in str(info.value)


def test_importable_odoo_of_another_version(tmp_path):
    python = tmp_path / "python"
    python.write_text(f"#!/bin/sh\nprintf '17.0\\n{tmp_path}/odoo\\n'\n")
    python.chmod(0o755)
    with pytest.raises(demo.Missing, match="found Odoo 17.0"):
        demo.check_odoo(python=str(python))


def test_import_mode_command():
    cmd = demo.odoo_base_command(None, python="/usr/bin/python3")
    assert cmd[:2] == ["/usr/bin/python3", "-c"] and "odoo.cli.main()" in cmd[2]


def test_odoo_command_addons_path_and_database(tmp_path):
    args = demo.parse_args(["--db", "demo_x"], state_file=tmp_path / "demo.json")
    pg = {"host": "db.local", "port": "5433", "user": "me", "password": "pw"}
    cmd = demo.odoo_command(args, pg, "/odoo/addons", "--stop-after-init", subcommand="shell")
    assert cmd[3] == "shell"
    joined = " ".join(cmd)
    assert f"--addons-path /odoo/addons,{ROOT}" in joined
    assert "--database demo_x --db_host db.local --db_port 5433 --db_user me" in joined
    assert "--db_password pw" in joined and cmd[-1] == "--stop-after-init"


# ---------------------------------------------------------------------------- PostgreSQL
def test_pg_params_defaults_and_environment():
    assert demo.pg_params({}) == {
        "host": "127.0.0.1",
        "port": "5432",
        "user": getpass.getuser(),
        "password": "",
    }
    assert demo.pg_params({"PGHOST": "h", "PGPORT": "1", "PGUSER": "u", "PGPASSWORD": "p"}) == {
        "host": "h",
        "port": "1",
        "user": "u",
        "password": "p",
    }


def test_postgres_role_is_refused():
    with pytest.raises(demo.Missing, match="postgres"):
        demo.check_postgres(demo.pg_params({"PGUSER": "postgres"}))


def test_unreachable_postgres():
    port = closed_port()
    with pytest.raises(demo.Missing, match=f"not reachable at 127.0.0.1:{port}"):
        demo.check_postgres(demo.pg_params({"PGPORT": str(port), "PGUSER": "someone"}))
    with pytest.raises(demo.Missing, match="not reachable"):
        demo.check_postgres(demo.pg_params({"PGHOST": "/nonexistent/run", "PGUSER": "x"}))


def test_something_else_on_the_postgres_port(listening, monkeypatch):
    def refuse(pg, sql, dbname="postgres"):
        raise RuntimeError('FATAL:  role "nobody" does not exist')

    monkeypatch.setattr(demo, "pg_query", refuse)
    with pytest.raises(demo.Missing, match="refuses role nobody: FATAL"):
        demo.check_postgres(demo.pg_params({"PGPORT": str(listening), "PGUSER": "nobody"}))


# ---------------------------------------------------------------------------- ports
def test_busy_port_is_refused(listening):
    assert not demo.port_free(listening)
    with pytest.raises(demo.Missing, match=f"port {listening} \\(Odoo\\) is busy"):
        demo.pick_port(listening, 8069, "Odoo")


def test_default_port_or_a_free_one(listening):
    port = closed_port()
    assert demo.pick_port(None, port, "Odoo") == port
    assert demo.pick_port(port, 8069, "Odoo") == port
    other = demo.pick_port(None, listening, "Odoo")
    assert other != listening and demo.port_free(other)


# ---------------------------------------------------------------------------- the command
def run_demo(tmp_path, *argv, env=None):
    env = {**os.environ, "DEMO_VAR_DIR": str(tmp_path / "var"), **(env or {})}
    return subprocess.run(
        [sys.executable, str(ROOT / "demo"), *argv],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )


def test_exit_code_2_and_a_clear_message_without_odoo(tmp_path):
    out = run_demo(tmp_path, "--odoo-bin", str(tmp_path / "missing" / "odoo-bin"))
    assert out.returncode == 2
    assert "demo: cannot start:" in out.stderr and "does not exist" in out.stderr
    remembered = json.loads((tmp_path / "var" / "demo.json").read_text())["odoo_bin"]
    assert remembered == str(tmp_path / "missing" / "odoo-bin")
    out = run_demo(tmp_path)  # remembered: same answer without the option
    assert out.returncode == 2 and "does not exist" in out.stderr


def test_exit_code_2_for_the_postgres_role(tmp_path):
    out = run_demo(tmp_path, "--odoo-bin", fake_odoo_bin(tmp_path), env={"PGUSER": "postgres"})
    assert out.returncode == 2 and "`postgres` role" in out.stderr


def test_exit_code_2_for_odoo_17(tmp_path):
    out = run_demo(tmp_path, "--odoo-bin", fake_odoo_bin(tmp_path, "17.0"))
    assert out.returncode == 2 and "needs Odoo 18.0; found Odoo 17.0" in out.stderr


def test_exit_code_2_for_a_busy_port(tmp_path, listening, monkeypatch, capsys):
    monkeypatch.setattr(demo, "VAR", tmp_path)
    monkeypatch.setattr(demo, "prepare_odoo", lambda *a, **k: None)
    monkeypatch.setattr(demo, "check_odoo", lambda *a, **k: "/odoo/addons")
    monkeypatch.setattr(demo, "choose_postgres", lambda args: (demo.pg_params(), None))
    monkeypatch.setattr(demo, "check_python_deps", lambda *a, **k: None)
    monkeypatch.setattr(demo, "check_postgres", lambda *a, **k: None)
    assert demo.main(["--port", str(listening)]) == 2
    assert f"port {listening} (Odoo) is busy" in capsys.readouterr().err
    assert demo.main(["--sandbox-port", str(listening)]) == 2
    assert f"port {listening} (sandbox) is busy" in capsys.readouterr().err
    free = closed_port()
    assert demo.main(["--port", str(free), "--sandbox-port", str(free)]) == 2
    assert "cannot share a port" in capsys.readouterr().err


def test_help(tmp_path):
    out = run_demo(tmp_path, "--help")
    assert out.returncode == 0 and "--odoo-bin" in out.stdout and "--reset" in out.stdout


# ---------------------------------------------------------------------------- French demo
def test_a_new_database_gets_french_and_its_modules_before_the_addon(tmp_path):
    addons = tmp_path / "addons"
    for name in ("account_payment", "l10n_fr_account", "payment_demo"):
        (addons / name).mkdir(parents=True)
    steps = demo.install_steps(None, set(), str(addons))
    assert steps == [
        ["-i", "l10n_fr_account,payment_demo", "--load-language", "fr_FR"],
        ["-i", "isanet_gocardless"],
    ]
    # Completing a database that has some of them: only the missing ones.
    assert demo.install_steps("absent", {"payment_demo"}, str(addons)) == [
        ["-i", "l10n_fr_account", "--load-language", "fr_FR"],
        ["-i", "isanet_gocardless"],
    ]
    # Reused as is; updated on request (the addon only: French is there).
    assert demo.install_steps("installed", set(demo.DEMO_MODULES), str(addons)) == []
    assert demo.install_steps("installed", set(demo.DEMO_MODULES), str(addons), update=True) == [
        ["-u", "isanet_gocardless"]
    ]


def test_an_odoo_without_the_french_chart_still_gets_a_demo(tmp_path):
    addons = tmp_path / "addons"
    (addons / "account_payment").mkdir(parents=True)
    assert demo.install_steps(None, set(), str(addons)) == [["-i", "isanet_gocardless"]]


def test_the_sandbox_plays_the_partner_app_with_a_remembered_secret(tmp_path):
    state_file = tmp_path / "demo.json"
    first = demo.parse_args([], state_file=state_file)
    again = demo.parse_args([], state_file=state_file)
    secret = first.state["oauth_client_secret"]
    assert len(secret) >= 32 and again.state["oauth_client_secret"] == secret
    assert secret != first.state["webhook_secret"]
    # The configuration gives Odoo the same partner app, French for the admin, a card provider.
    assert 'set_param(\n    "isanet_gocardless.oauth_client_id", P["oauth_client_id"])' in (
        demo.CONFIGURE
    )
    assert '"isanet_gocardless.oauth_client_secret", P["oauth_client_secret"]' in demo.CONFIGURE
    assert 'admin.write({"lang": P["lang"]' in demo.CONFIGURE
    assert "_gocardless_demo_card_provider" in demo.CONFIGURE
    assert "_gocardless_refresh_creditor()" in demo.CONFIGURE


def test_configure_passes_the_partner_app_and_the_language(tmp_path, monkeypatch):
    args = demo.parse_args([], state_file=tmp_path / "demo.json")
    seen = {}

    def fake_run(cmd, input=None, **kwargs):  # noqa: A002 - subprocess.run's own name
        seen["cmd"], seen["script"] = cmd, input
        return subprocess.CompletedProcess(cmd, 0, 'DEMO_RESULT {"invoice": "INV/1"}\n', "")

    monkeypatch.setattr(demo.subprocess, "run", fake_run)
    pg = demo.pg_params({"PGUSER": "odoo"})
    result = demo.configure(args, pg, "/odoo/addons", "http://odoo", "http://sandbox")
    assert result == {"invoice": "INV/1"}
    params = json.loads(json.loads(seen["script"].split("\n")[1].split("=", 1)[1]))
    assert params["oauth_client_id"] == demo.OAUTH_CLIENT_ID
    assert params["oauth_client_secret"] == args.state["oauth_client_secret"]
    assert params["lang"] == "fr_FR"
    assert "shell" in seen["cmd"]


def test_the_sandbox_is_started_as_the_partner_app(tmp_path):
    args = demo.parse_args([], state_file=tmp_path / "demo.json")
    cmd = demo.sandbox_command(args, "http://127.0.0.1:8069", 8765)
    client = f"--oauth-client={demo.OAUTH_CLIENT_ID}:{args.state['oauth_client_secret']}"
    assert client in cmd
    assert cmd[cmd.index("--webhook-url") + 1] == "http://127.0.0.1:8069/payment/gocardless/webhook"
    assert "--access-token=" + args.state["access_token"] in cmd
    # The sandbox itself accepts the command line (its own parser, asked for help only).
    probe = subprocess.run([*cmd, "--help"], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert probe.returncode == 0 and "--oauth-client" in probe.stdout


# ---------------------------------------------------------------------------- outgoing email
def test_emails_odoo_sends_are_kept_as_eml_files(tmp_path):
    import smtplib
    from email.message import EmailMessage

    catcher = demo.MailCatcher(tmp_path / "mail").start()
    try:
        message = EmailMessage()
        message["From"] = "compta@isanet-demo.example.com"
        message["To"] = "sophie.lefevre@cafe-lefevre.example.com"
        message["Subject"] = "Facture FAC/2026/00001"
        message.set_content("Payer par prélèvement\n.a line starting with a dot\n")
        with smtplib.SMTP("127.0.0.1", catcher.port, timeout=10) as smtp:
            smtp.ehlo()
            refused = smtp.send_message(message)
            assert refused == {}
        with smtplib.SMTP("127.0.0.1", catcher.port, timeout=10) as smtp:
            assert smtp.helo()[0] == 250
            assert smtp.docmd("VRFY", "someone")[0] == 502
    finally:
        catcher.shutdown()
        catcher.server_close()
    (kept,) = (tmp_path / "mail").glob("*.eml")
    text = kept.read_bytes().decode()
    assert "Subject: Facture FAC/2026/00001" in text
    assert "\n.a line starting with a dot" in text.replace("\r\n", "\n")


def test_odoo_is_started_with_the_mail_catcher(tmp_path):
    source = (ROOT / "demo").read_text()
    assert '"--smtp",\n                "127.0.0.1",\n                "--smtp-port",' in source
    assert "var/demo-mail/*.eml" in source
