"""Benchmark Stream mode: events through the sandbox's Stream gateway into the dingtalk_stream service, stored
in the inbox and applied by a real Odoo server's cron.

    bin/bench-events --stream                          # 50 events/s for 60 s, the connection dropped once
    bin/bench-events --stream --processes 2 --rate 20 --duration 10

Starts the sandbox, installs the addon in a fresh database, configures the company for Stream and runs a first
full sync, then starts Odoo (threaded, one cron thread) and ``--processes`` dingtalk_stream services, and
publishes the events on the sandbox's gateway at the rate (the sandbox sends each to one connection at
random). Halfway, every connection is dropped (``--drop``: close, disconnect or silent). Prints one JSON line.

Figures: "ack_ms" is the sandbox's time from an EVENT frame sent to its SUCCESS acknowledgement received;
"applied_after_send_s" is from the publication of an event until the bench first saw its inbox row
committed as applied (polled every --poll-interval s); "lost" are published events never stored;
"stored_twice" rows sharing an eventId (the inbox's unique key makes it 0; checked all the same).
"""

import argparse
import json
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime

import psycopg2
import requests
from _bench import DB_HOST, DB_PORT, DB_USER, ROOT, odoo_bin
from bench_events import (
    KINDS,
    Stop,
    Watcher,
    on_sigterm,
    parse_mix,
    percentile,
    plan_events,
    prepare_database,
    rounded,
    start_odoo,
    start_sandbox,
    stop_process,
)
from bench_events import free_port as _free_port

CHECKED = ("no_loss", "none_twice", "applied", "clean_stop")  # what --check requires
GOALS = {"p99_ack_ms": 100, "rate_per_s": 50, "duration_s": 60, "lost_events": 0, "applied_within_s": 10}


def parse_args():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rate", type=float, default=50)
    parser.add_argument("--duration", type=float, default=60)
    parser.add_argument("--processes", type=int, default=1, help="dingtalk_stream services (default 1)")
    parser.add_argument("--drop", default="close", choices=("close", "disconnect", "silent", "none"))
    parser.add_argument("--heartbeat", type=float, default=5, help="the services' --heartbeat (default 5)")
    parser.add_argument("--ack-timeout", type=float, default=5, help="the gateway's redelivery timeout")
    parser.add_argument("--workers", type=int, default=0, help="Odoo HTTP workers (0: threaded)")
    parser.add_argument("--users", type=int, default=2000)
    parser.add_argument("--departments", type=int, default=100)
    parser.add_argument("--roles", type=int, default=20)
    parser.add_argument("--latency-ms", type=int, default=30)
    parser.add_argument("--qps", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--db", default="ziqi_bench_stream")
    parser.add_argument("--mix", type=parse_mix, default=parse_mix("user=40,dept=30,role=25,dup=5"))
    parser.add_argument("--drain-timeout", type=float, default=600)
    parser.add_argument("--poll-interval", type=float, default=0.25)
    parser.add_argument("--clients", type=int, default=8, help=argparse.SUPPRESS)  # plan_events' spacing
    parser.add_argument("--db-filter", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument(
        "--check",
        action="store_true",
        help="exit 1 only when an event is lost or applied twice, or a service does not stop cleanly on "
        "SIGTERM (the CI step: a short run, the speed goals printed but not required)",
    )
    parser.add_argument("--odoo-log", default=str(ROOT / "var" / "bench_stream_odoo.log"))
    parser.add_argument("--stream-log", default=str(ROOT / "var" / "bench_stream_service.log"))
    return parser.parse_args()


def use_stream(args, url):
    with (
        psycopg2.connect(dbname=args.db, host=DB_HOST, port=DB_PORT, user=DB_USER) as conn,
        conn.cursor() as cr,
    ):
        cr.execute("UPDATE res_company SET dingtalk_event_delivery = 'stream' WHERE id = 1")
    conn.close()
    config = {"event_delivery": "stream", "ack_timeout": args.ack_timeout, "disconnect_grace": 10}
    requests.post(f"{url}/_sandbox/stream", json=config, timeout=10).raise_for_status()


def start_services(args):
    log = open(args.stream_log, "w")  # noqa: SIM115 (closed at the end)
    procs = [
        subprocess.Popen(
            odoo_bin(
                "-d",
                args.db,
                f"--heartbeat={args.heartbeat}",
                "--log-level=info",
                subcommand="dingtalk_stream",
            ),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        for _n in range(args.processes)
    ]
    return procs, log


def gateway(url, path="stream"):
    return requests.get(f"{url}/_sandbox/{path}", timeout=30).json()


def wait_connections(url, count, procs, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(proc.poll() is not None for proc in procs):
            raise Stop("a dingtalk_stream service exited; see its log")
        if sum(1 for c in gateway(url)["connections"] if c["state"] == "open") >= count:
            return
        time.sleep(0.2)
    raise Stop(f"{count} Stream connections did not open within {timeout} s")


class Publisher:
    """Publishes the plan on the gateway, paced to the rate; drops the connections once, halfway."""

    def __init__(self, args, plan, url):
        self.args, self.plan, self.url = args, plan, url
        self.sent_at = {}  # eventId -> wall time of its first publication
        self.dropped = None

    def run(self):
        session = requests.Session()
        session.trust_env = False
        t0 = time.monotonic()
        for index, item in enumerate(self.plan):
            delay = t0 + index / self.args.rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            payload = item["payload"] or self.plan[item["dup_of"]]["payload"]
            event = dict(payload, timeStamp=str(int(time.time() * 1000)))
            self.sent_at.setdefault(payload["eventId"], time.time())
            session.post(
                f"{self.url}/_sandbox/stream/publish", json={"event": event}, timeout=30
            ).raise_for_status()
            if self.dropped is None and self.args.drop != "none" and index >= len(self.plan) // 2:
                answer = session.post(
                    f"{self.url}/_sandbox/stream/drop", json={"how": self.args.drop}, timeout=30
                )
                self.dropped = {"at_s": round(time.monotonic() - t0, 1), "answer": answer.json()}
        self.send_s = time.monotonic() - t0


def main():
    args = parse_args()
    signal.signal(signal.SIGTERM, on_sigterm)
    (ROOT / "var").mkdir(exist_ok=True)
    sandbox = odoo = watcher = log = None
    services = []
    try:
        sandbox, url = start_sandbox(args)
        org = requests.get(f"{url}/_sandbox/org", timeout=60).json()
        sync_s, _summary = prepare_database(args, url, org, None, None)
        use_stream(args, url)
        odoo = start_odoo(args, _free_port())
        services, log = start_services(args)
        wait_connections(url, args.processes, services)
        plan = plan_events(args, org)
        watcher = Watcher(args)
        watcher.start()
        publisher = Publisher(args, plan, url)
        publisher.run()
        keys = set(publisher.sent_at)
        deadline = time.monotonic() + args.drain_timeout
        while not (watcher.drained(keys) and acked_all(url, keys)) and time.monotonic() < deadline:
            time.sleep(args.poll_interval)
        watcher.halt.set()
        watcher.join()
        watcher.poll()
        result = summarize(args, plan, publisher, watcher, gateway(url), gateway(url, "stream/acks"), keys)
        result["slow_acks"] = slow_acks(gateway(url, "stream/events")["events"], publisher)
        result.update(first_sync_s=round(sync_s, 1), db=args.db, stream_log=args.stream_log)
        result["stop"] = stop_services(args, services)
        result["goals_met"]["clean_stop"] = result["stop"]["clean"]
        print(json.dumps(result, ensure_ascii=False), flush=True)
        required = CHECKED if args.check else result["goals_met"]
        return 0 if all(result["goals_met"][goal] for goal in required) else 1
    except Stop as stop:
        print(f"bench-events --stream: {stop}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("bench-events --stream: interrupted", file=sys.stderr)
        return 130
    finally:
        if watcher is not None:
            watcher.halt.set()
        for proc in services:
            stop_process(proc)
        if log:
            log.close()
        stop_process(odoo)
        if odoo is not None:
            odoo.log_file.close()
        stop_process(sandbox)


def stop_services(args, services, timeout=20):
    """SIGTERM each service; clean when each exits 0 in time, its connections closed and reported stopped."""
    started = time.monotonic()
    for proc in services:
        proc.send_signal(signal.SIGTERM)
    codes = []
    for proc in services:
        try:
            codes.append(proc.wait(max(0.1, timeout - (time.monotonic() - started))))
        except subprocess.TimeoutExpired:
            codes.append(None)
    with (
        psycopg2.connect(dbname=args.db, host=DB_HOST, port=DB_PORT, user=DB_USER) as conn,
        conn.cursor() as cr,
    ):
        cr.execute("SELECT state, count(*) FROM ziqi_dingtalk_stream GROUP BY state")
        rows = dict(cr.fetchall())
    conn.close()
    return {
        "exit_codes": codes,
        "stop_s": round(time.monotonic() - started, 2),
        "status_rows": rows,
        "clean": codes == [0] * len(services) and set(rows) == {"stopped"},
    }


def slow_acks(events, publisher, limit_ms=100):
    """The deliveries acknowledged after more than ``limit_ms``: how many, and when (seconds after the first
    publication; the drop was at ``drop.at_s``), to tell a burst after a reconnection from a steady cost."""
    t0 = min(publisher.sent_at.values(), default=0)
    slow = sorted(
        (round(d["sent_at"] / 1000 - t0, 1), round(d["ack_ms"]))
        for e in events
        for d in e["deliveries"]
        if d.get("ack_ms") is not None and d["ack_ms"] > limit_ms
    )
    return {"count": len(slow), "first": slow[:20], "last": slow[-5:]}


def acked_all(url, keys):
    events = gateway(url, "stream/events")["events"]
    acked = {e["event_id"] for e in events if e["state"] == "acked"}
    return keys <= acked


def summarize(args, plan, publisher, watcher, gateway_state, acks, keys):
    rows = [r for r in watcher.rows.values() if r["key"] in keys]
    per_key = {}
    for r in rows:
        per_key[r["key"]] = per_key.get(r["key"], 0) + 1
    applied_after = []
    for row_id, r in watcher.rows.items():
        if r["key"] in keys and r["state"] in ("done", "skipped") and row_id in watcher.seen_final:
            seen = watcher.seen_final[row_id].replace(tzinfo=UTC).timestamp()
            applied_after.append(seen - publisher.sent_at[r["key"]])
    ack_ms = acks.get("ack_ms") or []
    p99_ack = percentile(ack_ms, 0.99)
    lost = len(keys - set(per_key))
    states = {}
    for r in rows:
        states[r["state"]] = states.get(r["state"], 0) + 1
    applied = states.get("done", 0) + states.get("skipped", 0)
    max_applied = max(applied_after, default=None)
    return {
        "rate": args.rate,
        "duration_s": args.duration,
        "processes": args.processes,
        "drop": publisher.dropped,
        "heartbeat_s": args.heartbeat,
        "ack_timeout_s": args.ack_timeout,
        "mix": {k: v for k, v in args.mix.items() if v and k in KINDS},
        "published": len(plan),
        "unique": len(keys),
        "stored": len(per_key),
        "stored_twice": sum(1 for n in per_key.values() if n > 1),
        "lost": lost,
        "applied": applied,
        "states": states,
        "send_s": rounded(publisher.send_s, 2),
        "ack_ms": {
            "n": len(ack_ms),
            "p50": rounded(percentile(ack_ms, 0.5)),
            "p99": rounded(p99_ack),
            "max": rounded(max(ack_ms, default=None)),
        },
        "applied_after_send_s": {
            "p50": rounded(percentile(applied_after, 0.5), 2),
            "p99": rounded(percentile(applied_after, 0.99), 2),
            "max": rounded(max_applied, 2),
        },
        "gateway": gateway_state.get("stats"),
        "connections": len(gateway_state.get("connections") or []),
        "goals": GOALS,
        "goals_met": {
            "p99_ack": p99_ack is not None and p99_ack <= GOALS["p99_ack_ms"],
            "sustained_rate": args.rate >= GOALS["rate_per_s"] and args.duration >= GOALS["duration_s"],
            "dropped_once": publisher.dropped is not None,
            "no_loss": lost == 0,
            "applied": applied == len(keys),
            "none_twice": not any(n > 1 for n in per_key.values()),
            "all_applied_in_time": applied == len(keys)
            and max_applied is not None
            and max_applied <= GOALS["applied_within_s"],
        },
        "started_utc": datetime.now(UTC).isoformat(timespec="seconds"),
    }


if __name__ == "__main__":
    sys.exit(main())
