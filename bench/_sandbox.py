"""Start the project's DingTalk sandbox for a benchmark (a subprocess on a free loopback port)."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def start_sandbox(*, users, departments, roles, seed, qps, latency_ms):
    """Return ``(process, url)``; raises RuntimeError if it does not come up."""
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "dingtalk_sandbox",
            "--port",
            "0",
            "--users",
            str(users),
            "--departments",
            str(departments),
            "--roles",
            str(roles),
            "--seed",
            str(seed),
            "--qps",
            str(qps),
            "--latency-ms",
            str(latency_ms),
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
