"""Benchmark a full DingTalk directory sync, a no-change resync, and the ORM floor, in one Odoo process.

    bin/bench-sync --users 10000 --departments 500 --roles 50 --latency-ms 30
    bin/bench-sync --dingtalk-url http://127.0.0.1:18080 --app-key K --app-secret S  # a running server

Prints one JSON line. The sync runs as the cron runs it: one step per transaction. "floor" is the time this
Odoo takes to batch-create the same numbers of bare departments, users and employees (rolled back).
"""

import argparse
import json
import resource
import sys
import time

from _bench import ODOO_SRC, fresh_database, odoo_args, point_company_at_sandbox, start_sandbox

sys.path.insert(0, str(ODOO_SRC))

import odoo
from odoo import SUPERUSER_ID, api

TOKEN_PATHS = ("/v1.0/oauth2/accessToken", "/gettoken")  # not rate-limited per path like the others


def parse_args():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--users", type=int, default=10000)
    parser.add_argument("--departments", type=int, default=500)
    parser.add_argument("--roles", type=int, default=50)
    parser.add_argument("--latency-ms", type=int, default=30)
    parser.add_argument("--qps", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--dingtalk-url", help="a DingTalk-compatible server already running (no sandbox started)"
    )
    parser.add_argument("--app-key", default="dingsandboxappkey0001")
    parser.add_argument("--app-secret", default="sandbox-app-secret")
    parser.add_argument("--db", default="ziqi_bench")
    parser.add_argument("--skip-floor", action="store_true")
    return parser.parse_args()


def rss_mb():
    """Peak resident memory of this process so far (MB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def current_rss_mb():
    """Resident memory of this process now (MB): flat across steps means nothing accumulates."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return rss_mb()


def run_sync(registry, company_id, samples, step_seconds):
    with registry.cursor() as cr:
        env = api.Environment(cr, SUPERUSER_ID, {})
        run_id = (
            env["ziqi.dingtalk.sync.run"]._queue(env["res.company"].browse(company_id), "all", "shell").id
        )
    started = time.monotonic()
    active = True
    while active:
        step_started = time.monotonic()
        with registry.cursor() as cr:
            run = api.Environment(cr, SUPERUSER_ID, {})["ziqi.dingtalk.sync.run"].browse(run_id)
            phase = run.phase
            active = run._step_locked()
            samples.append(round(current_rss_mb()))
            step_seconds.append((phase, round(time.monotonic() - step_started, 1)))
            if not active:
                return time.monotonic() - started, {
                    "state": run.state,
                    "api_calls": run.api_calls,
                    "records_written": run.records_written,
                    "stats": run.stats,
                    "errors": run.error_count,
                    "walk_complete": run.walk_complete,
                }


def _mean(values):
    return sum(values) / len(values)


def measure_floor(registry, company_id, departments, users):
    """Batch-create bare departments, users and employees, timed, then roll back."""
    with registry.cursor() as cr:
        from odoo.addons.ziqi_dingtalk.compat import USER_GROUPS
        from odoo.addons.ziqi_dingtalk.models.ziqi_dingtalk_importer import QUIET

        env = api.Environment(cr, SUPERUSER_ID, QUIET)  # the sync's own context
        group_user = env.ref("base.group_user").id
        started = time.monotonic()
        env["hr.department"].create(
            [{"name": f"floor dept {n}", "company_id": company_id} for n in range(departments)]
        )
        created = env["res.users"]
        for start in range(0, users, 2000):
            created |= env["res.users"].create(
                [
                    {
                        "name": f"floor user {n}",
                        "login": f"floor{n}",
                        "company_id": company_id,
                        "company_ids": [(6, 0, [company_id])],
                        USER_GROUPS: [(6, 0, [group_user])],
                    }
                    for n in range(start, min(users, start + 2000))
                ]
            )
        for start in range(0, users, 2000):
            chunk = created[start : start + 2000]
            env["hr.employee"].create(
                [{"name": u.name, "user_id": u.id, "company_id": company_id} for u in chunk]
            )
        env.flush_all()
        elapsed = time.monotonic() - started
        cr.rollback()
    return elapsed


def main():
    args = parse_args()
    sandbox = None
    url = args.dingtalk_url
    if not url:
        try:
            sandbox, url = start_sandbox(args)
        except RuntimeError as error:
            sys.exit(str(error))
    try:
        fresh_database(args.db)
        odoo.tools.config.parse_config(odoo_args("-d", args.db, "--log-level=warn"), setup_logging=True)
        registry = odoo.modules.registry.Registry(args.db)
        with registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            company_id = point_company_at_sandbox(env, url, args)
        samples_first, samples_second, steps_first = [], [], []
        first_s, first = run_sync(registry, company_id, samples_first, steps_first)
        peak_sync = rss_mb()
        second_s, second = run_sync(registry, company_id, samples_second, [])
        # (the last people step only finds that nothing is left)
        user_steps = [seconds for phase, seconds in steps_first if phase == "users"][:-1]
        calls = first["api_calls"]
        lower_bound = max(count / args.qps for path, count in calls.items() if path not in TOKEN_PATHS)
        stats = first["stats"]
        partial = {"initial_sync_s": round(first_s, 1), "resync_s": round(second_s, 1), "api_calls": calls}
        partial.update(api_lower_bound_s=round(lower_bound, 1), peak_rss_mb=round(peak_sync))
        print(json.dumps(partial))
        sys.stdout.flush()  # the syncs' figures, before the floor is measured
        floor = (
            None
            if args.skip_floor
            else measure_floor(
                registry, company_id, stats["departments"]["created"], stats["users"]["created"]
            )
        )
        result = {
            "users": args.users,
            "departments": args.departments,
            "roles": args.roles,
            "latency_ms": args.latency_ms,
            "qps": args.qps,
            "initial_sync_s": round(first_s, 1),
            "resync_s": round(second_s, 1),
            "state": [first["state"], second["state"]],
            "walk_complete": first["walk_complete"],
            "api_calls": calls,
            "api_lower_bound_s": round(lower_bound, 1),
            "orm_floor_s": floor and round(floor, 1),
            "initial_ratio": floor and round(first_s / (lower_bound + floor), 2),
            "resync_ratio": round(second_s / lower_bound, 2),
            "records_written": [first["records_written"], second["records_written"]],
            "created": {kind: counts.get("created", 0) for kind, counts in stats.items()},
            "errors": [first["errors"], second["errors"]],
            "peak_rss_mb": round(peak_sync),
            "rss_mb_per_step": samples_first,
            "seconds_per_step": steps_first,
            "user_steps": len(user_steps),
            # time per step of new people, first and last fifth: equal when time grows linearly
            "user_step_s_first_fifth": user_steps
            and round(_mean(user_steps[: max(1, len(user_steps) // 5)]), 1),
            "user_step_s_last_fifth": user_steps
            and round(_mean(user_steps[-max(1, len(user_steps) // 5) :]), 1),
        }
        print(json.dumps(result, ensure_ascii=False))
    finally:
        if sandbox:
            sandbox.terminate()


if __name__ == "__main__":
    main()
