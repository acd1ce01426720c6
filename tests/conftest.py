"""Shared pytest setup for the plain-Python suite (protocol layer and sandbox).

* ``ziqi_dingtalk/`` goes on sys.path, so ``import dingtalk`` is the protocol package (without Odoo).
* ``sandbox_factory`` / ``sandbox``: a DingTalk sandbox server (``python -m dingtalk_sandbox``) in a
  subprocess on a free loopback port; the fixtures yield its base URL and stop it afterwards.
"""

import os
import queue
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "ziqi_dingtalk"))

SANDBOX_START_TIMEOUT = 20  # seconds
READY_PREFIX = "SANDBOX READY "


def _pump_stdout(proc, lines):
    """Hand stdout lines to ``lines`` and keep draining the pipe so the server never blocks on it."""
    for line in proc.stdout:
        lines.put(line)
    lines.put(None)


def _wait_ready(proc, lines, log):
    while True:
        try:
            line = lines.get(timeout=SANDBOX_START_TIMEOUT)
        except queue.Empty:
            line = None
        if line is None:
            log.seek(0)
            raise RuntimeError(f"sandbox did not start (exit {proc.poll()}):\n{log.read()[-3000:]}")
        if line.startswith(READY_PREFIX):
            return line[len(READY_PREFIX) :].strip().rstrip("/")


class _SandboxProcess:
    """One running ``python -m dingtalk_sandbox --port 0 ...`` and its base URL."""

    def __init__(self, args):
        self.log = tempfile.TemporaryFile("w+")
        cmd = [sys.executable, "-u", "-m", "dingtalk_sandbox", "--port", "0", *args]
        self.proc = subprocess.Popen(
            cmd,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=self.log,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        lines = queue.Queue()
        threading.Thread(target=_pump_stdout, args=(self.proc, lines), daemon=True).start()
        try:
            self.url = _wait_ready(self.proc, lines, self.log)
        except BaseException:
            self.stop()
            raise

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


@pytest.fixture
def sandbox_factory():
    """Start sandboxes with extra CLI arguments: ``url = sandbox_factory("--users", "250")``."""
    started = []

    def start(*args):
        server = _SandboxProcess([str(arg) for arg in args])
        started.append(server)
        return server.url

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def sandbox(sandbox_factory):
    """Base URL of a fresh sandbox with the default organisation."""
    return sandbox_factory()
