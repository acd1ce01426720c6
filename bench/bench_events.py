"""Benchmark the DingTalk event inbox: signed, encrypted HTTP pushes into a real Odoo server, applied by cron.

    bin/bench-events                                  # 50 events/s for 60 s from 8 clients
    bin/bench-events --rate 20 --duration 10 --mix user=40,dept=30,role=25,dup=5

Starts the sandbox, installs the addon in a fresh database, configures the company and runs a first full
sync, then starts Odoo (threaded, one cron thread) and pushes events to POST /dingtalk/callback the way
DingTalk does (protocol §1.4-1.5, §2), built with the addon's own crypto. Prints one JSON line.

Figures: "answer_ms" is each request's answer time at the client; "apply_lag_s" is processed_at - received_at
as the addon records them (processed_at has 1 s resolution and is set before the batch commits);
"visible_lag_s" is from received_at until the bench first saw the row committed as applied (polled every
--poll-interval s). The goals are printed with the verdict, unchanged.
"""

import argparse
import json
import os
import random
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from datetime import UTC, datetime

import psycopg2
import requests
from _bench import DB_HOST, DB_PORT, DB_USER, ROOT, fresh_database, odoo_bin
from _bench import start_sandbox as _start_sandbox

sys.path.insert(0, str(ROOT / "ziqi_dingtalk"))

from dingtalk.crypto import DingTalkCrypto, generate_aes_key

GOALS = {
    "p99_answer_ms": 100,
    "rate_per_s": 50,
    "duration_s": 60,
    "lost_events": 0,
    "applied_within_s": 10,
}
KINDS = ("user", "dept", "role", "dup")


def parse_mix(text):
    mix = dict.fromkeys(KINDS, 0.0)
    for part in text.split(","):
        kind, _, weight = part.partition("=")
        if kind.strip() not in mix:
            raise argparse.ArgumentTypeError(f"unknown event kind {kind!r} (one of {', '.join(KINDS)})")
        mix[kind.strip()] = float(weight)
    if sum(mix[k] for k in KINDS if k != "dup") <= 0 or mix["dup"] >= 100:
        raise argparse.ArgumentTypeError("the mix needs some user, dept or role events")
    return mix


def parse_args():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rate", type=float, default=50, help="events per second (default 50)")
    parser.add_argument("--duration", type=float, default=60, help="seconds of sending (default 60)")
    parser.add_argument("--clients", type=int, default=8, help="concurrent client threads (default 8)")
    parser.add_argument(
        "--workers",
        type=int,
        default=0,
        help="Odoo HTTP worker processes (default 0: threaded, the cron shares the process; 2: prefork as in "
        "production, the cron in a process of its own)",
    )
    parser.add_argument("--users", type=int, default=2000)
    parser.add_argument("--departments", type=int, default=100)
    parser.add_argument("--roles", type=int, default=20)
    parser.add_argument("--latency-ms", type=int, default=30)
    parser.add_argument("--qps", type=int, default=20, help="the sandbox's limit per API path (default 20)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--db", default="ziqi_bench_events")
    parser.add_argument(
        "--mix",
        type=parse_mix,
        default=parse_mix("user=40,dept=30,role=25,dup=5"),
        help="percentages of user_modify_org, org_dept_modify, label_user_change and exact re-sends "
        "(default user=40,dept=30,role=25,dup=5)",
    )
    parser.add_argument(
        "--keep-going",
        action="store_true",
        help="go on sending after an answer that is not a valid 200 'success' (default: stop sending)",
    )
    parser.add_argument("--drain-timeout", type=float, default=600, help="seconds to wait for the cron")
    parser.add_argument("--poll-interval", type=float, default=0.25)
    parser.add_argument("--drop", action="store_true", help="drop the database at the end")
    parser.add_argument(
        "--db-filter",
        action="store_true",
        help="run Odoo with --db-filter too: DingTalk sends no cookie, so Odoo then lists the databases "
        "(over a new PostgreSQL connection) for each callback (default: -d alone, which Odoo takes as the "
        "list)",
    )
    parser.add_argument(
        "--odoo-log", default=str(ROOT / "var" / "bench_events_odoo.log"), help="the Odoo server's log"
    )
    return parser.parse_args()


class Stop(Exception):
    pass


def on_sigterm(signum, frame):
    raise KeyboardInterrupt


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_sandbox(args):
    try:
        return _start_sandbox(args)
    except RuntimeError as error:
        raise Stop(str(error)) from None


def prepare_database(args, url, org, token, aes_key):
    fresh_database(args.db)
    values = {
        "dingtalk_app_key": org["app"]["app_key"],
        "dingtalk_app_secret": org["app"]["app_secret"],
        "dingtalk_corp_id": org["corp_id"],
        "dingtalk_oapi_url": url,
        "dingtalk_api_url": url,
        "dingtalk_login_url": url,
        "dingtalk_callback_token": token,
        "dingtalk_aes_key": aes_key,
        "dingtalk_callback_receiver": "app_key",
    }
    # plain settings columns of the main company: set them directly, no ORM needed
    with (
        psycopg2.connect(dbname=args.db, host=DB_HOST, port=DB_PORT, user=DB_USER) as conn,
        conn.cursor() as cr,
    ):
        assignments = ", ".join(f"{column} = %s" for column in values)
        cr.execute(f"UPDATE res_company SET {assignments} WHERE id = 1", list(values.values()))
    conn.close()
    started = time.monotonic()
    sync = subprocess.run(
        odoo_bin("-d", args.db, "--type", "all", "--log-level=error", subcommand="dingtalk_sync"),
        text=True,
        capture_output=True,
    )
    if sync.returncode:
        raise Stop(f"the first full sync failed: {sync.stdout.strip()} {sync.stderr.strip()[-2000:]}")
    return time.monotonic() - started, sync.stdout.strip()


def start_odoo(args, port):
    log = open(args.odoo_log, "w")  # noqa: SIM115 (closed with the process)
    proc = subprocess.Popen(
        odoo_bin(
            "-d",
            args.db,
            *([f"--db-filter=^{args.db}$"] if args.db_filter else []),
            "--http-interface=127.0.0.1",
            f"--http-port={port}",
            f"--workers={args.workers}",
            "--max-cron-threads=1",
            "--log-level=warn",
        ),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    proc.log_file = log
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise Stop(f"Odoo exited with {proc.returncode}; see {args.odoo_log}")
        try:
            if requests.get(f"http://127.0.0.1:{port}/web/health", timeout=2).status_code == 200:
                return proc
        except requests.RequestException:
            pass
        time.sleep(0.3)
    raise Stop(f"Odoo did not answer /web/health within 120 s; see {args.odoo_log}")


def stop_process(proc, timeout=15):
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def plan_events(args, org):
    """The plaintext of every push (None for an exact re-send of an earlier one: its index in "dup_of")."""
    rng = random.Random(args.seed)
    userids = [u["userid"] for u in org["users"] if u.get("active", True) and not u.get("left")]
    dept_ids = [d["dept_id"] for d in org["departments"]]
    roles = [role for group in org["role_groups"] for role in group.get("roles") or ()]
    mix = args.mix
    total = int(round(args.rate * args.duration))
    # a re-send repeats a push sent well before (a DingTalk retry comes 10 s later; keep it in this run)
    gap = max(4 * args.clients, int(args.rate))
    kinds, weights = zip(*((k, mix[k]) for k in KINDS if k != "dup" and mix[k] > 0), strict=True)
    plan = []
    for index in range(total):
        if index >= gap and rng.random() * 100 < mix["dup"]:
            original = rng.randrange(0, index - gap + 1)
            while plan[original]["dup_of"] is not None:
                original = plan[original]["dup_of"]
            plan.append({"kind": "dup", "dup_of": original, "payload": None})
            continue
        kind = rng.choices(kinds, weights)[0]
        payload = {"EventType": None, "eventId": uuid.uuid4().hex, "CorpId": org["corp_id"]}
        if kind == "user":
            payload.update(EventType="user_modify_org", userId=[rng.choice(userids)])
        elif kind == "dept":
            payload.update(EventType="org_dept_modify", deptId=[rng.choice(dept_ids)])
        else:
            role = rng.choice(roles)
            members = role.get("members") or userids
            picked = rng.sample(members, min(len(members), rng.randint(1, 3)))
            payload.update(
                EventType="label_user_change", userIdList=picked, labelIdList=[role["id"]], action="add"
            )
        plan.append({"kind": kind, "dup_of": None, "payload": payload})
    return plan


class Sender:
    """Client threads sending the plan paced to the rate (request i is due at t0 + i / rate)."""

    def __init__(self, args, plan, url, crypto):
        self.args, self.plan, self.url, self.crypto = args, plan, url, crypto
        self.requests = [None] * len(plan)
        self.built = [threading.Event() for _ in plan]
        self.results = [None] * len(plan)
        self.next_index = 0
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.first_failure = None

    def build(self, index):
        item = self.plan[index]
        if item["dup_of"] is not None:
            while not self.built[item["dup_of"]].wait(0.5):
                if self.stop.is_set():
                    return None
            request = self.requests[item["dup_of"]]
        else:
            timestamp = str(int(time.time() * 1000))
            payload = dict(item["payload"], timeStamp=timestamp)
            encrypt = self.crypto.encrypt(json.dumps(payload, ensure_ascii=False, separators=(",", ":")))
            nonce = secrets.token_hex(8)
            query = {
                "msg_signature": self.crypto.signature(timestamp, nonce, encrypt),
                "timeStamp": timestamp,
                "nonce": nonce,
            }
            request = (query, json.dumps({"encrypt": encrypt}))
        self.requests[index] = request
        self.built[index].set()
        return request

    def check(self, response):
        if response.status_code != 200:
            return f"HTTP {response.status_code}: {response.text[:200]}"
        try:
            answer = response.json()
            self.crypto.verify(
                answer["msg_signature"], answer["timeStamp"], answer["nonce"], answer["encrypt"]
            )
            plaintext = self.crypto.decrypt(answer["encrypt"])
        except Exception as error:  # any malformed answer is a failure to report
            return f"bad answer ({type(error).__name__}: {error}): {response.text[:200]}"
        return None if plaintext == "success" else f"answer decrypts to {plaintext!r}"

    def worker(self):
        session = requests.Session()
        session.trust_env = False
        while not self.stop.is_set():
            with self.lock:
                index = self.next_index
                self.next_index += 1
            if index >= len(self.plan):
                return
            delay = self.t0 + index / self.args.rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            built = self.build(index)
            if built is None:
                return
            query, body = built
            sent = time.monotonic()
            try:
                response = session.post(
                    self.url,
                    params=query,
                    data=body,
                    headers={"Content-Type": "application/json"},
                    timeout=30,
                )
                elapsed = time.monotonic() - sent
                error = self.check(response)
            except requests.RequestException as exc:
                elapsed, error = time.monotonic() - sent, f"{type(exc).__name__}: {exc}"
            self.results[index] = {"sent": sent, "ms": elapsed * 1000, "error": error}
            if error:
                with self.lock:
                    self.first_failure = self.first_failure or f"event #{index}: {error}"
                if not self.args.keep_going:
                    self.stop.set()

    def run(self):
        self.t0 = time.monotonic() + 0.2
        self.t0_wall = time.time() + 0.2
        threads = [threading.Thread(target=self.worker, daemon=True) for _ in range(self.args.clients)]
        for thread in threads:
            thread.start()
        try:
            for thread in threads:
                while thread.is_alive():
                    thread.join(0.5)
        except BaseException:
            self.stop.set()
            raise
        self.t_end = time.monotonic()


class Watcher(threading.Thread):
    """Polls the inbox; remembers when each row was first seen committed in a final state."""

    QUERY = """SELECT id, event_key, state, attempts, received_at, processed_at,
                      clock_timestamp() AT TIME ZONE 'UTC'
                 FROM ziqi_dingtalk_event WHERE id > %s OR state = 'pending' OR id = ANY(%s)"""

    def __init__(self, args):
        super().__init__(daemon=True)
        self.args = args
        self.conn = psycopg2.connect(host=DB_HOST, port=DB_PORT, user=DB_USER, dbname=args.db)
        self.conn.autocommit = True
        self.rows = {}  # id -> dict
        self.seen_final = {}  # id -> first poll time (UTC naive) seeing it done/skipped/failed
        self.halt = threading.Event()
        self.lock = threading.Lock()

    def poll(self):
        with self.lock:
            high = max(self.rows, default=0)
            open_ids = [i for i, r in self.rows.items() if r["state"] == "pending"]
        with self.conn.cursor() as cr:
            cr.execute(self.QUERY, [high, open_ids])
            fetched = cr.fetchall()
        with self.lock:
            for row_id, key, state, attempts, received, processed, now in fetched:
                self.rows[row_id] = {
                    "key": key,
                    "state": state,
                    "attempts": attempts,
                    "received_at": received,
                    "processed_at": processed,
                }
                if state != "pending" and row_id not in self.seen_final:
                    self.seen_final[row_id] = now

    def run(self):
        while not self.halt.is_set():
            self.poll()
            self.halt.wait(self.args.poll_interval)

    def drained(self, expected):
        """Every expected row is stored and none is pending, except those waiting for a retry."""
        with self.lock:
            stored = sum(1 for r in self.rows.values() if r["key"] in expected)
            waiting = any(r["state"] == "pending" and not r["attempts"] for r in self.rows.values())
            return stored >= len(expected) and not waiting


def event_key(plan, index):
    item = plan[index]
    return (item["payload"] or plan[item["dup_of"]]["payload"])["eventId"]


def percentile(values, fraction):
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, int(round(fraction * len(ordered) + 0.5)) - 1))]


def rounded(value, digits=1):
    return None if value is None else round(value, digits)


def _proc_stat(pid):
    """(ppid, own + reaped children's CPU ticks, comm) of a process, or None once it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            text = stat.read()
    except OSError:
        return None
    comm = text[text.index("(") + 1 : text.rindex(")")]
    fields = text[text.rindex(")") + 2 :].split()
    return int(fields[1]), sum(int(value) for value in fields[11:15]), comm


def cpu_seconds(roots):
    """CPU seconds used so far by each named process tree (live descendants, and the reaped ones that
    their parents count): ``roots`` maps a name to a pid. A tree stops at another root (Odoo and the
    sandbox are children of the benchmark, which is counted without them)."""
    stats = {int(pid): _proc_stat(pid) for pid in os.listdir("/proc") if pid.isdigit()}
    children = {}
    for pid, stat in stats.items():
        if stat:
            children.setdefault(stat[0], []).append(pid)
    ticks = os.sysconf("SC_CLK_TCK")
    result = {}
    for name, root in roots.items():
        total, todo = 0, [root] if stats.get(root) else []
        while todo:
            pid = todo.pop()
            total += stats[pid][1]
            todo.extend(child for child in children.get(pid, ()) if child not in roots.values())
        result[name] = total / ticks
    return result


def postmaster_pid():
    """The PostgreSQL server's main process (the parent of every backend), if it runs here."""
    for pid in os.listdir("/proc"):
        stat = _proc_stat(pid) if pid.isdigit() else None
        if stat and stat[2] == "postgres" and (_proc_stat(stat[0]) or (0, 0, ""))[2] != "postgres":
            return int(pid)
    return None


def sandbox_stats(url):
    return requests.get(f"{url}/_sandbox/stats", timeout=10).json()


def delta(after, before):
    return {k: v - before.get(k, 0) for k, v in sorted(after.items()) if v - before.get(k, 0)}


def main():
    args = parse_args()
    signal.signal(signal.SIGTERM, on_sigterm)
    (ROOT / "var").mkdir(exist_ok=True)
    sandbox = odoo = watcher = None
    load_start = os.getloadavg()
    try:
        sandbox, url = start_sandbox(args)
        org = requests.get(f"{url}/_sandbox/org", timeout=60).json()
        token, aes_key = secrets.token_hex(16), generate_aes_key()
        sync_s, sync_summary = prepare_database(args, url, org, token, aes_key)
        crypto = DingTalkCrypto(token, aes_key, org["app"]["app_key"])
        port = free_port()
        odoo = start_odoo(args, port)
        plan = plan_events(args, org)
        watcher = Watcher(args)
        watcher.start()
        stats_before = sandbox_stats(url)
        sender = Sender(args, plan, f"http://127.0.0.1:{port}/dingtalk/callback", crypto)
        load_send = os.getloadavg()
        cpu_roots = {"odoo": odoo.pid, "sandbox": sandbox.pid, "bench": os.getpid()}
        if postmaster_pid():
            cpu_roots["postgresql"] = postmaster_pid()
        cpu_before = cpu_seconds(cpu_roots)
        sender.run()
        sent_idx = [i for i, r in enumerate(sender.results) if r is not None]
        acknowledged_keys = {event_key(plan, i) for i in sent_idx if not sender.results[i]["error"]}
        drain_deadline = time.monotonic() + args.drain_timeout
        while not watcher.drained(acknowledged_keys) and time.monotonic() < drain_deadline:
            time.sleep(args.poll_interval)
        drained = watcher.drained(acknowledged_keys)
        drain_end = time.monotonic()
        watcher.halt.set()
        watcher.join()
        watcher.poll()
        stats_after = sandbox_stats(url)
        cpu_after = cpu_seconds(cpu_roots)
        load_end = os.getloadavg()
        result = summarize(
            args, plan, sender, watcher, sent_idx, drained, drain_end, stats_before, stats_after
        )
        result.update(
            first_sync_s=round(sync_s, 1),
            first_sync=sync_summary,
            load_avg={"start": load_start, "sending": load_send, "end": load_end},
            # from the first send until the inbox is drained; "postgresql" is the whole server
            cpu_s={name: round(cpu_after[name] - cpu_before[name], 1) for name in cpu_roots},
            odoo_cpu_ms_per_event=round(
                (cpu_after["odoo"] - cpu_before["odoo"]) * 1000 / max(1, result["unique_sent"]), 1
            ),
            db_filter=args.db_filter,
            odoo_log=args.odoo_log,
            db=args.db,
        )
        print(json.dumps(result, ensure_ascii=False), flush=True)
        return 0 if all(result["goals_met"].values()) else 1
    except Stop as stop:
        print(f"bench-events: {stop}", file=sys.stderr)
        return 2
    except subprocess.CalledProcessError as error:
        print(
            f"bench-events: {' '.join(map(str, error.cmd[:4]))}... failed ({error.returncode})",
            file=sys.stderr,
        )
        return 2
    except KeyboardInterrupt:
        print("bench-events: interrupted", file=sys.stderr)
        return 130
    finally:
        if watcher is not None:
            watcher.halt.set()
        stop_process(odoo)
        if odoo is not None:
            odoo.log_file.close()
        stop_process(sandbox)
        if args.drop:
            subprocess.run(["dropdb", "--if-exists", args.db], check=False, stderr=subprocess.DEVNULL)


def summarize(args, plan, sender, watcher, sent_idx, drained, drain_end, stats_before, stats_after):
    results = [sender.results[i] for i in sent_idx]
    answer_ms = [r["ms"] for r in results]
    acknowledged = sum(1 for r in results if not r["error"])
    unique_sent = {event_key(plan, i) for i in sent_idx}
    rows = [r for r in watcher.rows.values() if r["key"] in unique_sent]
    ids = {row_id for row_id, r in watcher.rows.items() if r["key"] in unique_sent}
    states = {}
    for r in rows:
        states[r["state"]] = states.get(r["state"], 0) + 1
    applied = states.get("done", 0) + states.get("skipped", 0)
    apply_lag = [
        (r["processed_at"] - r["received_at"]).total_seconds()
        for r in rows
        if r["state"] in ("done", "skipped") and r["processed_at"]
    ]
    visible_lag = [
        (watcher.seen_final[i] - watcher.rows[i]["received_at"]).total_seconds()
        for i in ids
        if i in watcher.seen_final and watcher.rows[i]["state"] in ("done", "skipped")
    ]
    first_send = min((r["sent"] for r in results), default=sender.t0)
    last_send = max((r["sent"] for r in results), default=sender.t0)
    t0_utc = datetime.fromtimestamp(sender.t0_wall + (first_send - sender.t0), UTC).replace(tzinfo=None)
    last_processed = max((r["processed_at"] for r in rows if r["processed_at"]), default=None)
    last_seen = max((watcher.seen_final[i] for i in ids if i in watcher.seen_final), default=None)
    p99 = percentile(answer_ms, 0.99)
    max_lag = max(visible_lag + apply_lag, default=None)
    lost = len(results) - acknowledged
    result = {
        "rate": args.rate,
        "duration_s": args.duration,
        "clients": args.clients,
        "users": args.users,
        "departments": args.departments,
        "roles": args.roles,
        "latency_ms": args.latency_ms,
        "qps": args.qps,
        "mix": {k: v for k, v in args.mix.items() if v},
        "planned": len(plan),
        "sent": len(results),
        "duplicates_sent": sum(1 for i in sent_idx if plan[i]["dup_of"] is not None),
        "unique_sent": len(unique_sent),
        "acknowledged": acknowledged,
        "stored": len(rows),
        "applied": applied,
        "failed": states.get("failed", 0),
        "pending": states.get("pending", 0),
        "retrying": sum(1 for r in rows if r["state"] == "pending" and r["attempts"]),
        "states": states,
        "drained": drained,
        "answer_ms": {
            "p50": rounded(percentile(answer_ms, 0.50)),
            "p99": rounded(p99),
            "max": rounded(max(answer_ms, default=None)),
        },
        "answer_ms_by_kind": {
            kind: {
                "n": len(times),
                "p50": rounded(percentile(times, 0.50)),
                "p99": rounded(percentile(times, 0.99)),
                "max": rounded(max(times)),
                "over_100ms": sum(1 for t in times if t > 100),
            }
            for kind in KINDS
            if (times := [r["ms"] for i, r in zip(sent_idx, results, strict=True) if plan[i]["kind"] == kind])
        },
        "achieved_rate": rounded(
            len(results) / (last_send - first_send) if last_send > first_send else None, 2
        ),
        "send_s": rounded(last_send - first_send, 2),
        "max_send_lag_ms": rounded(
            max(
                (r["sent"] - (sender.t0 + i / args.rate)) * 1000
                for i, r in zip(sent_idx, results, strict=True)
            )
            if results
            else None
        ),
        "first_send_to_last_applied_s": rounded(
            last_processed and (last_processed - t0_utc).total_seconds(), 2
        ),
        "first_send_to_last_visible_s": rounded(last_seen and (last_seen - t0_utc).total_seconds(), 2),
        "drain_after_send_s": rounded(drain_end - sender.t_end, 2),
        "apply_lag_s": {
            "p50": rounded(percentile(apply_lag, 0.5), 2),
            "p99": rounded(percentile(apply_lag, 0.99), 2),
            "max": rounded(max(apply_lag, default=None), 2),
        },
        "visible_lag_s": {
            "p50": rounded(percentile(visible_lag, 0.5), 2),
            "p99": rounded(percentile(visible_lag, 0.99), 2),
            "max": rounded(max(visible_lag, default=None), 2),
        },
        "api_calls": delta(stats_after.get("calls", {}), stats_before.get("calls", {})),
        "throttled": delta(stats_after.get("throttled", {}), stats_before.get("throttled", {})),
        "first_failure": sender.first_failure,
        "goals": GOALS,
        "goals_met": {
            "p99_answer": p99 is not None and p99 <= GOALS["p99_answer_ms"],
            "sustained_rate": args.rate >= GOALS["rate_per_s"]
            and args.duration >= GOALS["duration_s"]
            and len(results) == len(plan),
            "no_loss": lost == 0 and len(rows) == len(unique_sent),
            "all_applied_in_time": drained
            and applied == len(unique_sent)
            and max_lag is not None
            and max_lag <= GOALS["applied_within_s"],
        },
    }
    return result


if __name__ == "__main__":
    sys.exit(main())
