"""What the benchmarks share: where Odoo and the database are, odoo-bin with this project's addons path, and
the project's DingTalk sandbox (a subprocess on a free loopback port)."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ODOO_SRC = Path(os.environ.get("ODOO_SRC", "/opt/odoo18"))
ADDONS = f"{ODOO_SRC}/odoo/addons,{ODOO_SRC}/addons,{ROOT}"
DB_HOST = os.environ.get("PGHOST", "127.0.0.1")
DB_PORT = os.environ.get("PGPORT", "5432")
DB_USER = os.environ.get("PGUSER", "root")
# without demo data: Odoo 18 loads it unless told not to; 19 loads none unless --with-demo
NO_DEMO = ["--without-demo=all"] if os.environ.get("ODOO_VERSION", "18") == "18" else []


def odoo_args(*args):
    """Addons path (first, so odoo-bin finds the addon's commands) and database connection, then ``args``."""
    return [
        f"--addons-path={ADDONS}",
        f"--db_host={DB_HOST}",
        f"--db_port={DB_PORT}",
        f"--db_user={DB_USER}",
        *args,
    ]


def odoo_bin(*args, subcommand=None):
    """An odoo-bin command line (optionally a subcommand such as ``shell`` or ``dingtalk_sync``)."""
    addons, *connection = odoo_args()
    return [
        sys.executable,
        str(ODOO_SRC / "odoo-bin"),
        addons,
        *([subcommand] if subcommand else []),
        *connection,
        *args,
    ]


def start_sandbox(args):
    """Start the sandbox for the ``--users/--departments/--roles/--seed/--qps/--latency-ms`` options in
    ``args``; return ``(process, url)`` or raise RuntimeError."""
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "dingtalk_sandbox",
            "--port",
            "0",
            "--users",
            str(args.users),
            "--departments",
            str(args.departments),
            "--roles",
            str(args.roles),
            "--seed",
            str(args.seed),
            "--qps",
            str(args.qps),
            "--latency-ms",
            str(args.latency_ms),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    line = proc.stdout.readline()
    if not line.startswith("SANDBOX READY"):
        proc.kill()
        raise RuntimeError(f"the sandbox did not start: {line!r}")
    return proc, line.split()[-1]


def fresh_database(db):
    """Drop ``db`` and create it again with the addon installed (no demo data)."""
    subprocess.run(["dropdb", "--if-exists", db], check=True, stderr=subprocess.DEVNULL)
    subprocess.run(
        odoo_bin("-d", db, "-i", "ziqi_dingtalk", *NO_DEMO, "--stop-after-init", "--log-level=error"),
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def point_company_at_sandbox(env, url, args):
    """Point ``env``'s company at the sandbox at ``url`` with the ``--app-key/--app-secret`` app; its id."""
    company = env.company
    company.write(
        {
            "dingtalk_app_key": args.app_key,
            "dingtalk_app_secret": args.app_secret,
            "dingtalk_oapi_url": url,
            "dingtalk_api_url": url,
            "dingtalk_login_url": url,
        }
    )
    return company.id
