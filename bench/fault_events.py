"""Fault test of the event inbox: DingTalk pushes a burst of events while the Odoo server is down for a while;
every event must end up applied exactly once, by its first push, by one of DingTalk's retries (10 s, then 30 s
later) or through the failed-push list (call_back/get_call_back_failed_result, protocol §2.3).

    bin/fault-events                       # 20 events/s for 30 s; Odoo killed 10 s in, for 120 s
    bin/fault-events --outage 20

Starts the sandbox (it stands in for DingTalk: pushes, retries, parks, answers the failed-push list), installs
the addon in a fresh database, syncs the organisation and starts Odoo (threaded, one cron thread), as
bench/bench_events.py does. The sandbox's /_sandbox/mutate changes the organisation and pushes each change's
event to POST /dingtalk/callback the way DingTalk does. --outage-at seconds into the burst the Odoo server is
killed (SIGKILL by default: requests in flight die with it) and started again --outage seconds later. Then it
waits until the sandbox has nothing left to retry or hand out and the inbox is drained, and checks that every
event DingTalk produced is in the inbox once and applied, and that the people and departments touched look in
Odoo as they do in DingTalk. Prints one JSON line; exits 1 on a lost, duplicated or unapplied event or a
mismatch, 2 when the run itself failed.
"""

import argparse
import json
import random
import secrets
import signal
import subprocess
import sys
import threading
import time
from types import SimpleNamespace

import psycopg2
import requests
from _bench import DB_HOST, DB_PORT, DB_USER, ROOT
from bench_events import (
    Stop,
    free_port,
    on_sigterm,
    prepare_database,
    start_odoo,
    start_sandbox,
    stop_process,
)

from dingtalk.crypto import generate_aes_key

APPLIED = ("done", "skipped")
# what the burst does: op -> weight (each op produces one event, set_role_members up to two)
MIX = {"update_user": 55, "move_user": 10, "add_user": 15, "update_dept": 10, "remove_user": 2, "roles": 8}


def parse_args():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--outage", type=float, default=120, help="seconds Odoo stays down (default 120)")
    parser.add_argument("--outage-at", type=float, help="seconds into the burst Odoo stops (default 1/3)")
    parser.add_argument("--rate", type=float, default=20, help="events per second (default 20)")
    parser.add_argument("--duration", type=float, default=30, help="seconds of the burst (default 30)")
    parser.add_argument("--clients", type=int, default=6, help="threads calling the sandbox (default 6)")
    parser.add_argument("--signal", choices=("kill", "term"), default="kill", help="how Odoo is stopped")
    parser.add_argument(
        "--retry-delays",
        help="the sandbox's retry schedule, e.g. 5,15 (default DingTalk's: 10,30)",
    )
    parser.add_argument(
        "--visible-after",
        type=float,
        help="seconds before a parked event can be pulled (default DingTalk's 3 min, the sandbox's default)",
    )
    parser.add_argument("--users", type=int, default=300)
    parser.add_argument("--departments", type=int, default=20)
    parser.add_argument("--roles", type=int, default=6)
    parser.add_argument("--latency-ms", type=int, default=0)
    parser.add_argument("--qps", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workers", type=int, default=0, help="Odoo HTTP workers (default 0: threaded)")
    parser.add_argument("--db", default="ziqi_fault_events")
    parser.add_argument("--drain-timeout", type=float, default=900)
    parser.add_argument("--drop", action="store_true", help="drop the database at the end")
    parser.add_argument("--odoo-log", default=str(ROOT / "var" / "fault_events_odoo.log"))
    args = parser.parse_args()
    args.db_filter = False  # what bench_events.start_odoo reads
    if args.outage_at is None:
        args.outage_at = args.duration / 3
    return args


def control(url, path, body=None):
    method = "POST" if body is not None else "GET"
    response = requests.request(method, f"{url}/_sandbox/{path}", json=body, timeout=60)
    return response.json()


def plan(args, org):
    """The mutations of the burst: each person or department it removes is touched by nothing else."""
    rng = random.Random(args.seed)
    leaders = {u for d in org["departments"] for u in d.get("dept_manager_userid_list") or ()}
    people = [u["userid"] for u in org["users"] if not u.get("left") and not u.get("boss")]
    rng.shuffle(people)
    total = int(round(args.rate * args.duration))
    leavers = [u for u in people if u not in leaders][: max(1, total * MIX["remove_user"] // 100)]
    people = [u for u in people if u not in leavers]
    depts = [d["dept_id"] for d in org["departments"] if d["dept_id"] != 1]
    roles = [(r["id"], r.get("members") or []) for g in org["role_groups"] for r in g.get("roles") or ()]
    ops, weights = zip(*MIX.items(), strict=True)
    out = []
    for index in range(total):
        op = rng.choices(ops, weights)[0]
        if op == "remove_user" and leavers:
            out.append({"op": "remove_user", "userid": leavers.pop()})
        elif op == "add_user":
            userid = f"fault{index:05d}"
            out.append(
                {
                    "op": "add_user",
                    "userid": userid,
                    "name": f"新人{index}",
                    "dept_id_list": [rng.choice(depts)],
                }
            )
        elif op == "move_user":
            out.append({"op": "move_user", "userid": rng.choice(people), "dept_id_list": [rng.choice(depts)]})
        elif op == "update_dept":
            out.append({"op": "update_dept", "dept_id": rng.choice(depts), "name": f"部门{index}"})
        elif op == "roles" and roles:
            role_id, members = rng.choice(roles)
            pool = [u for u in members if u in people] or people
            out.append(
                {"op": "set_role_members", "role_id": role_id, "userids": rng.sample(pool, min(3, len(pool)))}
            )
        else:
            out.append({"op": "update_user", "userid": rng.choice(people), "title": f"职位{index}"})
    return out


class Burst:
    """Client threads sending the mutations paced to the rate (mutation i is due at t0 + i / rate)."""

    def __init__(self, args, url, mutations):
        self.args, self.url, self.mutations = args, url, mutations
        self.answers = [None] * len(mutations)
        self.next_index, self.lock = 0, threading.Lock()

    def worker(self):
        session = requests.Session()
        session.trust_env = False
        while True:
            with self.lock:
                index, self.next_index = self.next_index, self.next_index + 1
            if index >= len(self.mutations):
                return
            delay = self.t0 + index / self.args.rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            response = session.post(f"{self.url}/_sandbox/mutate", json=self.mutations[index], timeout=60)
            self.answers[index] = response.json()

    def start(self):
        self.t0 = time.monotonic() + 0.2
        self.threads = [threading.Thread(target=self.worker, daemon=True) for _ in range(self.args.clients)]
        for thread in self.threads:
            thread.start()

    def join(self):
        for thread in self.threads:
            thread.join()


def inbox(db):
    """Every inbox row but the parts of split events: (key, type, state, data)."""
    with psycopg2.connect(dbname=db, host=DB_HOST, port=DB_PORT, user=DB_USER) as conn, conn.cursor() as cr:
        cr.execute(
            """SELECT event_key, event_type, state, data FROM ziqi_dingtalk_event
                WHERE event_key NOT LIKE '%#%'"""
        )
        rows = cr.fetchall()
    conn.close()
    return rows


def drained(url, db, event_ids):
    """True once DingTalk has nothing to retry or hand out and each event's row is in a final state."""
    failed = control(url, "failed")
    if failed["scheduled"] or failed["parked"]:
        return False
    rows = inbox(db)
    return all(state != "pending" for _key, _type, state, _data in rows) and len(rows) >= len(event_ids)


def account(events, pushes, failed, rows):
    """Per event: its first delivering attempt, parked or not, and the inbox rows standing for it."""
    served = {}
    for item in failed["served"]:
        served.setdefault(json.dumps(item["entry"], sort_keys=True), []).append(item["event_id"])
    first_ok, attempts = {}, {}
    for push in pushes:
        event_id = (push.get("payload") or {}).get("eventId")
        attempts[event_id] = max(attempts.get(event_id, 0), push["attempt"])
        if push["success"]:
            first_ok[event_id] = min(first_ok.get(event_id, 9), push["attempt"])
    by_event, unmatched = {event_id: [] for event_id in events}, 0
    for key, _type, state, data in rows:
        if "call_back_tag" in (data or {}):
            owners = served.get(json.dumps(data, sort_keys=True)) or [None]
            source = "pull"
        else:
            owners, source = [key], "push"
        for owner in owners:
            if owner in by_event:
                by_event[owner].append((source, state))
            else:
                unmatched += 1
    return first_ok, attempts, {i["event_id"] for i in failed["served"]}, by_event, unmatched


def odoo_state(db):
    with psycopg2.connect(dbname=db, host=DB_HOST, port=DB_PORT, user=DB_USER) as conn, conn.cursor() as cr:
        # Odoo 19 keeps the job title on the employee's current hr.version, 18 on the employee
        cr.execute(
            """SELECT 1 FROM information_schema.columns
               WHERE table_name = 'hr_employee' AND column_name = 'job_title'"""
        )
        title = (
            "e.job_title"
            if cr.fetchone()
            else "(SELECT v.job_title FROM hr_version v WHERE v.id = e.current_version_id)"
        )
        cr.execute(
            f"""SELECT e.dingtalk_userid, e.name, {title}, e.active,
                       ARRAY(SELECT d.dingtalk_id FROM hr_employee_dingtalk_department_rel r
                             JOIN hr_department d ON d.id = r.department_id WHERE r.employee_id = e.id)
                  FROM hr_employee e WHERE e.dingtalk_userid IS NOT NULL"""
        )
        people = {row[0]: row[1:] for row in cr.fetchall()}
        cr.execute("SELECT dingtalk_id, name FROM hr_department WHERE dingtalk_id IS NOT NULL AND active")
        depts = {row[0]: row[1] for row in cr.fetchall()}
    conn.close()
    return people, depts


def compare(db, org, mutations):
    """What differs, for the people and departments the burst touched, between DingTalk and Odoo."""
    people, depts = odoo_state(db)
    users = {u["userid"]: u for u in org["users"]}
    dept_names = {str(d["dept_id"]): d["name"] for d in org["departments"]}
    touched_users = {m["userid"] for m in mutations if "userid" in m}
    touched_users |= {u for m in mutations for u in m.get("userids") or ()}
    mismatches = []
    for userid in sorted(touched_users):
        user, employee = users[userid], people.get(userid)
        if employee is None:
            mismatches.append(f"{userid}: no employee")
            continue
        name, title, active, dept_ids = employee
        if user.get("left"):
            wanted = (False,)
            got = (active,)
        else:
            wanted = (user["name"], user.get("title") or None, True, sorted(map(str, user["dept_id_list"])))
            got = (name, title, active, sorted(dept_ids))
        if wanted != got:
            mismatches.append(f"{userid}: DingTalk {wanted}, Odoo {got}")
    for dept_id in sorted({str(m["dept_id"]) for m in mutations if m["op"] == "update_dept"}):
        name = depts.get(dept_id) or {}
        if dept_names[dept_id] not in name.values():
            mismatches.append(f"department {dept_id}: DingTalk {dept_names[dept_id]!r}, Odoo {name}")
    return len(touched_users), mismatches


def stop_odoo(odoo, how):
    odoo.send_signal(signal.SIGKILL if how == "kill" else signal.SIGTERM)
    try:
        odoo.wait(30)
    except subprocess.TimeoutExpired:
        odoo.kill()
        odoo.wait()
    odoo.log_file.close()


def run(args):
    sandbox, url = start_sandbox(args)
    started = time.monotonic()
    odoo = None
    try:
        org = control(url, "org")
        token, aes_key = secrets.token_hex(16), generate_aes_key()
        sync_s, _summary = prepare_database(args, url, org, token, aes_key)
        port = free_port()
        odoo = start_odoo(args, port)
        settings = {}
        if args.retry_delays:
            settings["push_retry_delays"] = [float(d) for d in args.retry_delays.split(",")]
        if args.visible_after is not None:
            settings["failed_visible_after"] = args.visible_after
        schedule = control(url, "config", settings)
        callback = {"url": f"http://127.0.0.1:{port}/dingtalk/callback", "token": token, "aes_key": aes_key}
        control(url, "callback", dict(callback, auto_push=True))
        mutations = plan(args, org)
        burst = Burst(args, url, mutations)
        burst.start()
        time.sleep(max(0.0, burst.t0 + args.outage_at - time.monotonic()))
        stop_odoo(odoo, args.signal)
        down_at = time.monotonic()
        time.sleep(args.outage)
        restart = SimpleNamespace(**vars(args))
        restart.odoo_log = args.odoo_log.replace(".log", "-restarted.log")
        odoo = start_odoo(restart, port)
        up_at = time.monotonic()
        burst.join()
        burst_end = time.monotonic()
        answers = [a for a in burst.answers if a]
        events = {e["eventId"] for a in answers if a.get("ok") for e in a["events"]}
        deadline = time.monotonic() + args.drain_timeout
        while not drained(url, args.db, events) and time.monotonic() < deadline:
            time.sleep(1)
        drain_end = time.monotonic()
        pushes, failed = control(url, "pushes")["pushes"], control(url, "failed")
        rows, final_org = inbox(args.db), control(url, "org")
        touched, mismatches = compare(
            args.db,
            final_org,
            [m for m, a in zip(mutations, burst.answers, strict=True) if a and a.get("ok")],
        )
    finally:
        stop_process(odoo)
        if odoo is not None and not odoo.log_file.closed:
            odoo.log_file.close()
        stop_process(sandbox)
    first_ok, attempts, pulled_ids, by_event, unmatched = account(events, pushes, failed, rows)
    lost = sorted(e for e, found in by_event.items() if not found)
    duplicated = sorted(e for e, found in by_event.items() if len(found) > 1)
    unapplied = sorted(
        e for e, found in by_event.items() if found and not any(s in APPLIED for _src, s in found)
    )
    result = {
        "rate": args.rate,
        "duration_s": args.duration,
        "outage_s": args.outage,
        "outage_at_s": args.outage_at,
        "signal": args.signal,
        "retry_delays_s": schedule["push_retry_delays"],
        "visible_after_s": schedule["failed_visible_after"],
        "mutations": len(mutations),
        "mutations_refused": sum(1 for a in answers if not a.get("ok")),
        "events_pushed": len(events),
        "delivered_first_time": sum(1 for e in events if first_ok.get(e) == 1),
        "delivered_by_retry": sum(1 for e in events if first_ok.get(e, 1) > 1),
        "parked": len(failed["served"]) + len(failed["parked"]),
        "via_failed_pull": sum(1 for e in events if any(src == "pull" for src, _s in by_event[e])),
        "parked_but_stored_by_a_push": sum(
            1 for e in pulled_ids & events if by_event[e] and all(src == "push" for src, _s in by_event[e])
        ),
        "push_attempts": len(pushes),
        "inbox_rows": len(rows),
        "unmatched_rows": unmatched,
        "duplicates": sum(len(by_event[e]) - 1 for e in duplicated),
        "lost": len(lost),
        "unapplied": len(unapplied),
        "people_and_departments_checked": touched,
        "mismatches": len(mismatches),
        "first_mismatches": mismatches[:5],
        "lost_events": lost[:5],
        "drained": not lost and drain_end < deadline,
        "odoo_down_s": round(up_at - down_at, 1),
        "drain_after_restart_s": round(drain_end - up_at, 1),
        "drain_after_burst_s": round(drain_end - burst_end, 1),
        "first_sync_s": round(sync_s, 1),
        "total_run_s": round(time.monotonic() - started, 1),
        "odoo_log": args.odoo_log,
        "db": args.db,
    }
    ok = not (lost or duplicated or unapplied or mismatches or unmatched)
    return result, ok


def main():
    args = parse_args()
    signal.signal(signal.SIGTERM, on_sigterm)
    (ROOT / "var").mkdir(exist_ok=True)
    try:
        result, ok = run(args)
    except Stop as stop:
        print(f"fault-events: {stop}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("fault-events: interrupted", file=sys.stderr)
        return 130
    finally:
        if args.drop:
            subprocess.run(["dropdb", "--if-exists", args.db], check=False, stderr=subprocess.DEVNULL)
    print(json.dumps(result, ensure_ascii=False), flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
