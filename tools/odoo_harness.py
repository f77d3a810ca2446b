"""Run Odoo 18 from Python for this project's tools: fresh databases copied from a cached
template, the odoo command line with this repository on the addons path.

PostgreSQL is reached with the usual libpq variables (PGHOST, PGPORT, PGUSER, PGPASSWORD;
defaults 127.0.0.1, 5432 and the current user). Odoo refuses the ``postgres`` role.
Extra Odoo addons folders can be given in ODOO_ADDONS_PATH (comma-separated).
"""

import getpass
import hashlib
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ODOO_DEPENDS = "account_payment"  # what the template database holds (the addon's depends)


def odoo_unavailable_reason():
    probe = subprocess.run(
        [sys.executable, "-c", "import odoo, odoo.release; print(odoo.release.serie)"],
        capture_output=True,
        text=True,
    )
    if probe.returncode != 0:
        return "`import odoo` fails in " + sys.executable
    if probe.stdout.strip() != "18.0":
        return f"the importable Odoo is {probe.stdout.strip()}, not 18.0"
    if pg_params()["user"] == "postgres":
        return "Odoo refuses the `postgres` role: set PGUSER to another role"
    try:
        with socket.create_connection((pg_params()["host"], int(pg_params()["port"])), 5):
            pass
    except OSError as exc:
        return f"PostgreSQL is not reachable at {pg_params()['host']}:{pg_params()['port']} ({exc})"
    return None


def pg_params():
    return {
        "host": os.environ.get("PGHOST", "127.0.0.1"),
        "port": os.environ.get("PGPORT", "5432"),
        "user": os.environ.get("PGUSER", getpass.getuser()),
        "password": os.environ.get("PGPASSWORD", ""),
    }


def psql(sql, dbname="postgres"):
    env = dict(os.environ, PGHOST=pg_params()["host"], PGPORT=pg_params()["port"])
    env["PGUSER"] = pg_params()["user"]
    return subprocess.run(
        ["psql", "-X", "-At", "-d", dbname, "-c", sql], capture_output=True, text=True, env=env
    )


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def odoo_command(dbname, data_dir, *extra, subcommand=None):
    import_odoo = "import odoo, odoo.cli; odoo.cli.main()"
    pg = pg_params()
    addons = [
        str(Path(p).resolve())
        for p in os.environ.get("ODOO_ADDONS_PATH", "").split(",")
        if p.strip()
    ]
    cmd = [sys.executable, "-c", f"import os; os.environ['TZ'] = 'UTC'; {import_odoo}"]
    if subcommand:
        cmd.append(subcommand)
    cmd += ["--database", dbname, "--db_host", pg["host"], "--db_port", pg["port"]]
    cmd += ["--db_user", pg["user"], "--data-dir", str(data_dir), "--no-database-list"]
    if pg["password"]:
        cmd += ["--db_password", pg["password"]]
    cmd += ["--addons-path", ",".join([*addons, odoo_addons_dir(), str(ROOT)])]
    cmd += list(extra)
    return cmd


def odoo_addons_dir():
    """The folder of Odoo's standard addons (a source checkout's `addons/`)."""
    out = subprocess.run(
        [sys.executable, "-c", "import odoo, os; print(os.path.dirname(odoo.__file__))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    for candidate in (Path(out).parent / "addons", Path(out) / "addons"):
        if (candidate / "account_payment").is_dir():
            return str(candidate)
    raise SystemExit(f"cannot find Odoo's addons (account_payment) next to {out}")


# Seconds a new database waits for its template copied by another run of the same clone.
TEMPLATE_BUSY_WAIT = 300


def clone_tag(root=None):
    """A short hash of this clone's folder: its databases are its own.

    Two clones on one machine (and one PostgreSQL) build and drop their own template and test
    databases, never the other's.
    """
    return hashlib.sha1(str(Path(root or ROOT).resolve()).encode()).hexdigest()[:8]


def odoo_release():
    """The importable Odoo's version and the file it comes from."""
    return subprocess.run(
        [sys.executable, "-c", "import odoo.release as r; print(r.version, r.__file__)"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def template_name(data_dir, root=None):
    """A template database holding Odoo's modules we depend on, reused between runs of this
    clone (its name holds a digest of the Odoo release and the modules, and the clone's tag)."""
    digest = hashlib.sha1((odoo_release() + ODOO_DEPENDS).encode()).hexdigest()[:10]
    return f"isanet_gc_tmpl_{digest}_{clone_tag(root)}"


def ensure_template(data_dir, log_dir, root=None):
    name = template_name(data_dir, root)
    exists = psql(f"SELECT 1 FROM pg_database WHERE datname = '{name}'").stdout.strip() == "1"
    if exists and (data_dir / "filestore" / name).is_dir():
        return name
    psql(f'DROP DATABASE IF EXISTS "{name}"')
    print(f"building the template database {name} ({ODOO_DEPENDS}), about a minute...")
    log = log_dir / "odoo-template.log"
    cmd = odoo_command(
        name,
        data_dir,
        "-i",
        ODOO_DEPENDS,
        "--stop-after-init",
        "--http-port",
        str(free_port()),
        "--logfile",
        str(log),
        "--log-level",
        "warn",
    )
    if subprocess.call(cmd, cwd=ROOT) != 0:
        print(log.read_text()[-5000:])
        psql(f'DROP DATABASE IF EXISTS "{name}"')
        raise RuntimeError(f"could not build the template database (log: {log})")
    return name


def fresh_db_name(prefix="isanet_gc_test", root=None):
    """A new database name: the prefix, this clone's tag, the process and the time."""
    return f"{prefix}_{clone_tag(root)}_{os.getpid()}_{int(time.time())}"


def create_fresh_db(data_dir, log_dir, prefix="isanet_gc_test", root=None):
    template = ensure_template(data_dir, log_dir, root)
    dbname = fresh_db_name(prefix, root)
    # Two runs of one clone at once: PostgreSQL copies a template only while nobody else is
    # connected to it (another copy under way is), so the second one waits its turn.
    deadline = time.monotonic() + TEMPLATE_BUSY_WAIT
    while True:
        result = psql(f'CREATE DATABASE "{dbname}" TEMPLATE "{template}"')
        if result.returncode == 0:
            break
        if "being accessed by other users" not in result.stderr or time.monotonic() > deadline:
            raise RuntimeError(result.stderr)
        time.sleep(1)
    # `CREATE DATABASE ... TEMPLATE` copies the database, not its filestore.
    shutil.copytree(data_dir / "filestore" / template, data_dir / "filestore" / dbname)
    return dbname


def drop_db(dbname, data_dir):
    psql(f'DROP DATABASE IF EXISTS "{dbname}"')
    shutil.rmtree(data_dir / "filestore" / dbname, ignore_errors=True)


def create_addon_db(prefix="isanet_gc_bench", root=None):
    """A fresh database with the addon installed (the benchmarks start from one).

    :return: The database's name, Odoo's data directory and the database's log file.
    :rtype: tuple[str, pathlib.Path, pathlib.Path]
    """
    var = Path(root or ROOT) / "var"
    data_dir = var / "odoo-data"
    data_dir.mkdir(parents=True, exist_ok=True)
    dbname = create_fresh_db(data_dir, var, prefix=prefix, root=root)
    log = var / f"{dbname}.log"
    print(f"database {dbname}: installing the addon...", flush=True)
    command = odoo_command(
        dbname,
        data_dir,
        "-i",
        "isanet_gocardless",
        "--stop-after-init",
        "--logfile",
        str(log),
        "--http-port",
        str(free_port()),
    )
    if subprocess.call(command, cwd=root or ROOT) != 0:
        drop_db(dbname, data_dir)
        raise RuntimeError(f"could not install the addon (log: {log})")
    return dbname, data_dir, log
