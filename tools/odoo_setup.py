"""Set Odoo 18.0 up inside the project, for ./demo and ./run_tests on a machine without Odoo.

Everything lives in the project's ``var/`` folder:

- ``var/odoo``: Odoo's source, a shallow clone of Odoo's 18.0 branch (or of the copy given
  with ``--odoo-src``: a URL, a local git checkout, or a plain folder, which is copied);
- ``var/venv``: a virtual environment with Odoo's requirements, the addon's
  (``requirements.txt``) and Odoo itself installed in editable mode (``pip install -e``), so
  that ``import odoo`` works there and pip knows the ``odoo`` distribution (the addon's
  wheel depends on it);
- ``var/pgdata``: a PostgreSQL cluster of the project's own, only when no PostgreSQL server
  answers and PostgreSQL's programs (initdb, pg_ctl) are installed.

Standard library only: this runs before Odoo and its requirements exist. The functions that
decide (which source, which commands, which PostgreSQL) are pure and tested without Odoo
(tests/test_demo_setup.py); the ones that act run those commands.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import platform
import pwd
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ODOO_REPO = "https://github.com/odoo/odoo"
ODOO_BRANCH = "18.0"
# cbor2 5.4.2 (pinned by Odoo 18.0 for Python < 3.12) builds from source only with setuptools
# older than 80; pip's isolated build environments read the constraint from PIP_CONSTRAINT.
BUILD_CONSTRAINTS = "setuptools<80\n"
# The Python versions Odoo 18.0's requirements.txt pins packages for.
PYTHONS = ((3, 10), (3, 11), (3, 12))
# The dedicated role of the project's own PostgreSQL cluster: Odoo refuses `postgres`.
LOCAL_PG_ROLE = "odoo"
DEBIAN_BUILD_PACKAGES = (
    "build-essential python3-dev python3-venv libpq-dev libldap2-dev libsasl2-dev "
    "libxml2-dev libxslt1-dev libjpeg-dev"
)


class SetupError(Exception):
    """Setting Odoo up cannot go on; the message says what to do."""


# ---------------------------------------------------------------------------- Odoo's source
def is_url(source):
    """A git URL (https://, ssh://, file://, git@host:path) rather than a local path."""
    return "://" in source or bool(re.match(r"^[\w.-]+@[\w.-]+:", source))


def is_git_checkout(path):
    """A git working tree (a clone or a `git worktree`, whose .git is a file)."""
    return (Path(path) / ".git").exists()


def source_plan(source, dest, branch=ODOO_BRANCH):
    """How to bring Odoo's source into ``dest``.

    :param str source: None (Odoo's repository on GitHub), a git URL or a local folder.
    :return: ``("git", command)`` to run, or ``("copy", folder)`` for a folder without git.
    :raises SetupError: a local folder that does not exist or is not Odoo.
    """
    dest = str(dest)
    if not source:
        source = ODOO_REPO
    if is_url(source):
        return "git", [
            "git",
            "clone",
            "--depth",
            "1",
            "--branch",
            branch,
            "--single-branch",
            source,
            dest,
        ]
    path = Path(source).expanduser().resolve()
    if not path.is_dir():
        raise SetupError(f"--odoo-src {source}: no such folder")
    if not (path / "odoo" / "release.py").is_file():
        raise SetupError(f"--odoo-src {source}: not Odoo's source (no odoo/release.py in it)")
    if is_git_checkout(path):
        # Its checked-out commit (HEAD), whatever the branch: the copy the user has in hand.
        return "git", ["git", "clone", "--depth", "1", f"file://{path}", dest]
    return "copy", str(path)


def source_label(source):
    """What is remembered of a source (to know whether var/odoo came from it)."""
    if not source:
        return ODOO_REPO + "@" + ODOO_BRANCH
    if is_url(source):
        return source + "@" + ODOO_BRANCH
    return str(Path(source).expanduser().resolve())


def odoo_serie(folder):
    """The Odoo series ("18.0") of a source folder, read from odoo/release.py; None if none."""
    try:
        text = (Path(folder) / "odoo" / "release.py").read_text()
    except OSError:
        return None
    match = re.search(r"^version_info\s*=\s*\(\s*(\d+)\s*,\s*(\d+)", text, re.M)
    return f"{match[1]}.{match[2]}" if match else None


def fetch_source(source, dest, log):
    """Clone or copy Odoo's source into ``dest`` (replaced when there); checks it is 18.0."""
    kind, what = source_plan(source, dest)
    dest = Path(dest)
    if dest.exists():
        shutil.rmtree(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    if kind == "copy":
        print(f"copying Odoo's source from {what} into {dest}...", flush=True)
        shutil.copytree(what, dest, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    else:
        if not shutil.which("git"):
            raise SetupError("git is needed to fetch Odoo's source: sudo apt-get install -y git")
        print(f"$ {' '.join(what)}", flush=True)
        if run_logged(what, log) != 0:
            shutil.rmtree(dest, ignore_errors=True)
            raise SetupError(f"fetching Odoo's source failed: see {log}")
    serie = odoo_serie(dest)
    if serie != ODOO_BRANCH:
        shutil.rmtree(dest, ignore_errors=True)
        raise SetupError(f"{source or ODOO_REPO} holds Odoo {serie}, not {ODOO_BRANCH}")


# ---------------------------------------------------------------------------- virtual environment
def venv_python(venv):
    return Path(venv) / "bin" / "python"


def base_python(current=None, version=None, which=shutil.which):
    """The Python to make the virtual environment with: this one when Odoo 18 supports it,
    else a python3.12/3.11/3.10 found on PATH; None when there is none."""
    version = version or sys.version_info[:2]
    if tuple(version) in PYTHONS:
        return current or sys.executable
    for major, minor in reversed(PYTHONS):
        found = which(f"python{major}.{minor}")
        if found:
            return found
    return None


def constraints_env(constraint_file, environ=None):
    """The environment of pip's runs: the build constraints added to the user's own."""
    environ = dict(os.environ if environ is None else environ)
    previous = environ.get("PIP_CONSTRAINT", "").strip()
    environ["PIP_CONSTRAINT"] = f"{previous} {constraint_file}".strip()
    environ["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return environ


def venv_commands(python, venv, odoo_dir, root=ROOT):
    """The commands that make the virtual environment and fill it, in order."""
    vpy = str(venv_python(venv))
    return [
        [python, "-m", "venv", str(venv)],
        [vpy, "-m", "pip", "install", "-r", str(Path(odoo_dir) / "requirements.txt")],
        # Apart: gocardless-pro needs a newer requests than the one Odoo pins (2.31.0), which
        # pip would refuse in one resolution; Odoo 18 works with it.
        [vpy, "-m", "pip", "install", "-r", str(Path(root) / "requirements.txt")],
        # Odoo itself, from var/odoo: `import odoo` works, and pip knows the `odoo` package.
        [vpy, "-m", "pip", "install", "--no-deps", "-e", str(odoo_dir)],
    ]


def requirements_digest(odoo_dir, root=ROOT):
    """What the environment was made from: when it changes, pip runs again."""
    digest = hashlib.sha1()
    for path in (Path(odoo_dir) / "requirements.txt", Path(root) / "requirements.txt"):
        digest.update(path.read_bytes() if path.exists() else b"")
    digest.update(str(Path(odoo_dir).resolve()).encode())
    return digest.hexdigest()


def pip_failure_hint(output):
    """What to install when pip failed to build a package, from pip's output."""
    hints = []
    if "ResolutionImpossible" in output:
        hints.append(
            "pip found no versions suiting all the requirements (the conflict is above): "
            "each is pinned in a requirements file"
        )
    if re.search(
        r"lber\.h|ldap\.h|sasl\.h|[Ff]ailed (to build|building wheel for) python-ldap", output
    ):
        hints.append(
            "python-ldap (Odoo's LDAP support) builds against LDAP's and SASL's headers: "
            "sudo apt-get install -y libldap2-dev libsasl2-dev"
        )
    if re.search(r"pg_config|libpq-fe\.h|[Ff]ailed (to build|building wheel for) psycopg2", output):
        hints.append("psycopg2 builds against libpq: sudo apt-get install -y libpq-dev")
    if "Python.h" in output:
        hints.append("Python's headers are missing: sudo apt-get install -y python3-dev")
    if re.search(r"command '\S*gcc' failed|gcc: not found|unable to execute '\S*gcc'", output):
        hints.append("a C compiler is needed: sudo apt-get install -y build-essential")
    if not hints:
        hints.append(
            "on Debian or Ubuntu, Odoo's requirements build with: sudo apt-get install -y "
            + DEBIAN_BUILD_PACKAGES
        )
    return hints


def run_logged(cmd, log, env=None, cwd=None):
    """Run a command, its output appended to ``log``; returns its exit code."""
    Path(log).parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        out.write(("\n$ " + " ".join(map(str, cmd)) + "\n").encode())
        out.flush()
        return subprocess.call(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=cwd)


def make_venv(venv, odoo_dir, var, root=ROOT, python=None):
    """Create (or complete) the virtual environment; skipped when made from the same files."""
    venv, var = Path(venv), Path(var)
    stamp = venv / ".isanet-setup"
    digest = requirements_digest(odoo_dir, root)
    if venv_python(venv).exists() and stamp.exists() and stamp.read_text().strip() == digest:
        return False
    python = python or base_python()
    if not python:
        raise SetupError(
            "Odoo 18.0 runs on Python 3.10 to 3.12; this is Python "
            f"{platform.python_version()} and no python3.12, python3.11 or python3.10 is on "
            "PATH: install one (sudo apt-get install -y python3.11-venv) and run ./demo with it"
        )
    constraint = var / "pip-build-constraints.txt"
    constraint.parent.mkdir(parents=True, exist_ok=True)
    constraint.write_text(BUILD_CONSTRAINTS)
    env = constraints_env(constraint)
    log = var / "setup-venv.log"
    print(
        f"installing Odoo's and the addon's requirements into {venv} (a few minutes the "
        f"first time: some build from source; log: {log})...",
        flush=True,
    )
    for cmd in venv_commands(python, venv, odoo_dir, root):
        if cmd[1:3] == ["-m", "venv"] and venv_python(venv).exists():
            continue
        print("$ " + " ".join(cmd), flush=True)
        start = log.stat().st_size if log.exists() else 0
        if run_logged(cmd, log, env=env) != 0:
            with open(log, "rb") as out:
                out.seek(start)
                output = out.read().decode(errors="replace")
            tail = "\n".join(output.strip().splitlines()[-25:])
            if cmd[1:3] == ["-m", "venv"]:
                hints = ["the venv module is missing: sudo apt-get install -y python3-venv"]
            else:
                hints = pip_failure_hint(output)
            raise SetupError(
                f"installing into {venv} failed; the end of {log}:\n{tail}\n\n"
                + "\n".join("=> " + hint for hint in hints)
            )
    stamp.write_text(digest + "\n")
    return True


def ensure_dev_requirements(venv, var, root=ROOT):
    """requirements-dev.txt in the virtual environment (./run_tests's tools), once per
    version of the file; returns whether pip ran."""
    venv, var = Path(venv), Path(var)
    requirements = Path(root) / "requirements-dev.txt"
    stamp = venv / ".isanet-dev"
    digest = hashlib.sha1(requirements.read_bytes()).hexdigest()
    if stamp.exists() and stamp.read_text().strip() == digest:
        return False
    constraint = var / "pip-build-constraints.txt"
    constraint.write_text(BUILD_CONSTRAINTS)
    cmd = [str(venv_python(venv)), "-m", "pip", "install", "-r", str(requirements)]
    log = var / "setup-venv.log"
    print(f"$ {' '.join(cmd)}  (the test tools, once; log: {log})", flush=True)
    if run_logged(cmd, log, env=constraints_env(constraint)) != 0:
        raise SetupError(f"installing the test tools into {venv} failed: see {log}")
    stamp.write_text(digest + "\n")
    return True


# ---------------------------------------------------------------------------- Odoo, where from
def odoo_importable(python):
    """Whether ``python`` imports Odoo 18.0."""
    probe = subprocess.run(
        [str(python), "-c", "import odoo.release as r; print(r.serie)"],
        capture_output=True,
        text=True,
    )
    return probe.returncode == 0 and probe.stdout.strip() == ODOO_BRANCH


def venv_ready(venv):
    return venv_python(venv).exists() and (Path(venv) / ".isanet-setup").exists()


def choose_odoo(odoo_bin, odoo_src, current_has_odoo, venv_is_ready):
    """Which Odoo ./demo runs.

    - ``"odoo-bin"``: the ``--odoo-bin`` given or remembered;
    - ``"project"``: the project's own Odoo (var/odoo, var/venv), set up when missing: asked
      with ``--odoo-src``, already set up, or when this python has no Odoo 18;
    - ``"current"``: the Odoo this python imports.
    """
    if odoo_bin:
        return "odoo-bin"
    if odoo_src or venv_is_ready or not current_has_odoo:
        return "project"
    return "current"


def setup_project_odoo(var, source=None, state=None, root=ROOT):
    """Bring var/odoo and var/venv up to date; returns the virtual environment's python.

    ``state`` (./demo's remembered state) keeps the source var/odoo came from: another
    ``source`` replaces it; no source keeps the one there (else Odoo's GitHub repository).
    """
    var = Path(var)
    state = {} if state is None else state
    odoo_dir, venv = var / "odoo", var / "venv"
    label = source_label(source) if source else state.get("odoo_src") or source_label(None)
    have = odoo_serie(odoo_dir) == ODOO_BRANCH
    if not have or state.get("odoo_src") not in (None, label):
        if have:
            print(f"Odoo's source changes to {label}: replacing {odoo_dir}", flush=True)
        fetch_source(source, odoo_dir, var / "setup-odoo.log")
        state["odoo_src"] = label
        stamp = venv / ".isanet-setup"
        stamp.unlink(missing_ok=True)  # Odoo itself is installed again from the new source
    state.setdefault("odoo_src", label)
    make_venv(venv, odoo_dir, var, root)
    return venv_python(venv)


# ---------------------------------------------------------------------------- PostgreSQL
def load_state(path):
    """./demo's remembered state (var/demo.json): {} when absent or unreadable."""
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return {}


def postgres_bin_dir(which=shutil.which, pattern="/usr/lib/postgresql/*/bin"):
    """The folder of initdb and pg_ctl: on PATH, else Debian's newest; None when absent."""
    found = which("initdb"), which("pg_ctl")
    if all(found):
        return str(Path(found[0]).parent)
    candidates = [d for d in glob.glob(pattern) if Path(d, "initdb").exists()]
    candidates = [d for d in candidates if Path(d, "pg_ctl").exists()]
    if not candidates:
        return None

    def version(path):
        number = Path(path).parent.name
        return int(number) if number.isdigit() else 0

    return max(candidates, key=version)


def install_postgres_command(which=shutil.which, system=None):
    """The command that installs PostgreSQL on this system."""
    system = system or platform.system()
    if system == "Darwin":
        return "brew install postgresql@16 && brew services start postgresql@16"
    if which("apt-get"):
        return "sudo apt-get install -y postgresql && sudo -u postgres createuser -s $USER"
    if which("dnf"):
        return "sudo dnf install -y postgresql-server && sudo postgresql-setup --initdb"
    return "install PostgreSQL (https://www.postgresql.org/download/) and start it"


def reachable(host, port, timeout=3):
    try:
        if host.startswith("/"):
            with socket.socket(socket.AF_UNIX) as sock:
                sock.settimeout(timeout)
                sock.connect(f"{host}/.s.PGSQL.{port}")
        else:
            with socket.create_connection((host, int(port)), timeout):
                pass
    except (OSError, ValueError):
        return False
    return True


def choose_postgres(environ, server_answers, bin_dir, local_asked=False):
    """Which PostgreSQL the demo uses.

    :param dict environ: the environment (PGHOST/PGPORT given: that server, always).
    :param bool server_answers: whether the server (PGHOST:PGPORT, default 127.0.0.1:5432)
        accepts connections.
    :param str bin_dir: initdb's and pg_ctl's folder (None: not installed).
    :param bool local_asked: ``--local-postgres``: the project's own cluster in any case.
    :return: ``"server"`` or ``"local"``.
    :raises SetupError: no server, no programs: the message gives the install command.
    """
    if not local_asked and (server_answers or environ.get("PGHOST") or environ.get("PGPORT")):
        return "server"
    if bin_dir:
        return "local"
    if local_asked:
        raise SetupError(
            "--local-postgres needs PostgreSQL's programs (initdb, pg_ctl): "
            + install_postgres_command()
        )
    raise SetupError(
        "no PostgreSQL answers at 127.0.0.1:5432 and PostgreSQL is not installed here. "
        "Install it with:\n    " + install_postgres_command()
    )


def cluster_user(euid=None):
    """The system user running the project's cluster: PostgreSQL refuses to run as root."""
    euid = os.geteuid() if euid is None else euid
    if euid != 0:
        return None
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        raise SetupError(
            "PostgreSQL's programs refuse to run as root and there is no `postgres` user to "
            "run the project's cluster: run ./demo as an ordinary user"
        ) from None
    return "postgres"


def local_cluster_commands(bin_dir, data_dir, port, password_file, log):
    """initdb's and pg_ctl's commands for the project's own cluster (loopback only, TCP only,
    a dedicated role with a password)."""
    data_dir = str(data_dir)
    return {
        "initdb": [
            str(Path(bin_dir) / "initdb"),
            "-D",
            data_dir,
            "-U",
            LOCAL_PG_ROLE,
            "--pwfile",
            str(password_file),
            "--auth-host=scram-sha-256",
            "--auth-local=scram-sha-256",
            "-E",
            "UTF8",
            "--locale=C",
        ],
        "start": [
            str(Path(bin_dir) / "pg_ctl"),
            "-D",
            data_dir,
            "-l",
            str(log),
            "-w",
            "-t",
            "60",
            "-o",
            f"-p {port} -c listen_addresses=127.0.0.1 -c unix_socket_directories=''",
            "start",
        ],
        "stop": [str(Path(bin_dir) / "pg_ctl"), "-D", data_dir, "-m", "fast", "-w", "stop"],
        "status": [str(Path(bin_dir) / "pg_ctl"), "-D", data_dir, "status"],
    }


class LocalCluster:
    """The project's own PostgreSQL cluster in var/pgdata, started on demand."""

    def __init__(self, var, bin_dir, state, port=None):
        self.var = Path(var)
        self.data_dir = self.var / "pgdata"
        self.log = self.var / "postgres.log"
        self.bin_dir = bin_dir
        self.state = state
        self.user = cluster_user()
        self.started = False
        cluster = state.setdefault("local_postgres", {})
        cluster.setdefault("password", hashlib.sha1(os.urandom(32)).hexdigest())
        self.port = int(port or cluster.get("port") or free_pg_port())
        cluster["port"] = self.port
        self.password = cluster["password"]

    @property
    def params(self):
        return {
            "host": "127.0.0.1",
            "port": str(self.port),
            "user": LOCAL_PG_ROLE,
            "password": self.password,
        }

    def _run(self, cmd):
        kwargs = {"user": self.user} if self.user else {}
        return subprocess.run(cmd, capture_output=True, text=True, **kwargs)

    def _own(self, *paths):
        if self.user:
            for path in paths:
                shutil.chown(path, self.user, self.user)

    def commands(self, password_file):
        return local_cluster_commands(
            self.bin_dir, self.data_dir, self.port, password_file, self.log
        )

    def ensure_running(self):
        self.var.mkdir(parents=True, exist_ok=True)
        password_file = self.var / ".pgpass-init"
        cmds = self.commands(password_file)
        if not (self.data_dir / "PG_VERSION").exists():
            print(f"creating the project's PostgreSQL cluster in {self.data_dir}...", flush=True)
            shutil.rmtree(self.data_dir, ignore_errors=True)
            self.data_dir.mkdir(mode=0o700)
            password_file.write_text(self.password + "\n")
            password_file.chmod(0o600)
            self._own(self.data_dir, password_file)
            try:
                out = self._run(cmds["initdb"])
            finally:
                password_file.unlink(missing_ok=True)
            if out.returncode != 0:
                shutil.rmtree(self.data_dir, ignore_errors=True)
                raise SetupError(f"initdb failed:\n{out.stdout[-2000:]}{out.stderr[-2000:]}")
        if self._run(cmds["status"]).returncode == 0:
            return self.params
        if not self.log.exists():
            self.log.touch()
        self._own(self.log)
        print(f"starting the project's PostgreSQL on 127.0.0.1:{self.port}...", flush=True)
        out = self._run(cmds["start"])
        if out.returncode != 0:
            raise SetupError(
                f"PostgreSQL did not start (log {self.log}):\n{out.stderr[-2000:]}"
                f"{self.log.read_text()[-2000:]}"
            )
        self.started = True
        return self.params

    def stop(self):
        if self.started:
            self._run(self.commands(self.var / ".pgpass-init")["stop"])
            self.started = False


def free_pg_port(preferred=5432):
    """5432 when free, else the first free port after it."""
    for port in range(preferred, preferred + 100):
        with socket.socket() as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port
    raise SetupError("no free port for PostgreSQL between 5432 and 5531")
