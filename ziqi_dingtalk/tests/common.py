"""Test helpers: a DingTalk sandbox server per test class, and a company pointed at it.

The sandbox (``dingtalk_sandbox`` at the repository root) runs as a subprocess on a free loopback
port; the addon talks to it over HTTP exactly as it talks to DingTalk. Tests drive it through its
control API (``/_sandbox/...``).
"""

import contextlib
import os
import subprocess
import sys
from pathlib import Path

import requests

from odoo.tests import common

from ..compat import ODOO_19

REPO_ROOT = Path(__file__).resolve().parents[2]
SANDBOX_APP = {
    "app_key": "dingsandboxappkey0001",
    "app_secret": "sandbox-app-secret",
    "corp_id": "dingsandboxcorp0001",
    "agent_id": "100000001",
}


class SandboxServer:
    """A running ``python -m dingtalk_sandbox`` subprocess."""

    def __init__(self, *args):
        if not (REPO_ROOT / "dingtalk_sandbox" / "__main__.py").exists():
            raise RuntimeError(f"the DingTalk sandbox is not at {REPO_ROOT / 'dingtalk_sandbox'}")
        env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
        self.proc = subprocess.Popen(  # pylint: disable=consider-using-with
            [sys.executable, "-m", "dingtalk_sandbox", "--port", "0", *args],
            cwd=REPO_ROOT,
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        line = self.proc.stdout.readline()
        if not line.startswith("SANDBOX READY "):
            self.stop()
            raise RuntimeError(f"the DingTalk sandbox did not start: {line!r}")
        self.url = line.split()[-1].rstrip("/")

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)
        self.proc.stdout.close()

    def control(self, path, payload=None, method=None):
        """Call the sandbox control API; returns the decoded JSON answer."""
        method = method or ("POST" if payload is not None else "GET")
        response = requests.request(method, f"{self.url}/_sandbox/{path}", json=payload, timeout=10)
        response.raise_for_status()
        return response.json()

    def stats(self):
        """Calls per API path since the last reset, those the sandbox throttled (90018) included."""
        return self.control("stats")["calls"]

    def answered(self, path):
        """Calls of ``path`` the sandbox answered: a call throttled (90018) and retried counts once."""
        stats = self.control("stats")
        return stats["calls"].get(path, 0) - stats["throttled"].get(path, 0)


class DingTalkSandboxMixin:
    """Start one sandbox per test class and point the main company (``cls.company``) at it."""

    sandbox_args = ("--users", "40", "--departments", "8", "--roles", "4", "--seed", "7")

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.start_sandbox()
        cls.company = cls.env.company
        cls.configure_company(cls.company)

    @classmethod
    def start_sandbox(cls):
        cls.sandbox = SandboxServer(*cls.sandbox_args)
        cls.addClassCleanup(cls.sandbox.stop)

    @classmethod
    def configure_company(cls, company, **overrides):
        vals = {
            "dingtalk_agent_id": SANDBOX_APP["agent_id"],
            "dingtalk_app_key": SANDBOX_APP["app_key"],
            "dingtalk_app_secret": SANDBOX_APP["app_secret"],
            "dingtalk_corp_id": SANDBOX_APP["corp_id"],
            "dingtalk_oapi_url": cls.sandbox.url,
            "dingtalk_api_url": cls.sandbox.url,
            "dingtalk_login_url": cls.sandbox.url,
        }
        vals.update(overrides)
        company.sudo().write(vals)


class DingTalkCase(DingTalkSandboxMixin, common.TransactionCase):
    def sandbox_fault(self, path, **fault):
        self.sandbox.control("faults", dict(fault, path=path))
        self.addCleanup(self.sandbox.control, "faults/clear", {})


class DingTalkHttpCase(DingTalkSandboxMixin, common.HttpCase):
    @contextlib.contextmanager
    def outside_requests(self):
        """Within this block, requests that do not come through the test's own opener (``url_open``) reach
        Odoo: the sandbox pushing an event, a second browser made with ``requests``. Odoo 19 answers them
        400 during a test unless allowed (and its test lock, which their cursor waits for, is held by the
        test until then); Odoo 18 lets them in. No ``url_open`` inside the block on Odoo 19."""
        if not ODOO_19:
            yield
            return
        try:
            with self.allow_requests(all_requests=True):
                yield
        finally:
            self.http_request_allow_all = False  # Odoo leaves it set

    def push_signed(self, event, token, aes_key):
        """The sandbox signs and pushes ``event`` to Odoo's callback as DingTalk does, with the company's
        callback ``token`` and ``aes_key``; then the events cron applies it."""
        self.env.flush_all()
        with self.outside_requests():
            result = self.sandbox.control(
                "push_event",
                {
                    "event": event,
                    "url": f"{self.base_url()}/dingtalk/callback",
                    "token": token,
                    "aes_key": aes_key,
                    "receiver_id": SANDBOX_APP["app_key"],
                },
            )
        self.assertTrue(result["success"], result)
        self.env["ziqi.dingtalk.event"]._cron_process()
