"""Benchmark the DingTalk attendance import: the first import of some work days, a second import of the same
days (which must write nothing), and the peak memory of the Odoo process, in one Odoo process.

    .venv/bin/python bench/bench_attendance.py                     # 10,000 people × 1 work day
    .venv/bin/python bench/bench_attendance.py --backfill          # 2,000 people × 30 days
    .venv/bin/python bench/bench_attendance.py --keep-db --profile # same org already synced: import only

The sandbox serves an org of ``--users`` people who all work Mon–Fri 09:00–18:00 with generated punches
(3 % of check points left unpunched). The days end 3 days ago (on a weekday), so every gap is settled.
The directory is synced first (as bin/bench-sync does), then each import runs as the run model runs it
(``_queue`` then ``_run``, one transaction, committed at the end).

API lower bound = the /attendance/list calls made / qps (20 calls/s per API); "minimum" = the fewest calls
the records allow, ceil(records / 50) / qps. Prints a table, then one JSON line.
"""

import argparse
import cProfile
import datetime
import io
import json
import math
import os
import pstats
import resource
import subprocess
import sys
import time
import urllib.request

from _bench import NO_DEMO, ODOO_SRC, odoo_args, odoo_bin, point_company_at_sandbox, start_sandbox

sys.path.insert(0, str(ODOO_SRC))

import odoo
from odoo import SUPERUSER_ID, api

ADDON = "ziqi_dingtalk_attendance"
LIST_PATH = "/attendance/list"
PAGE = 50  # records per attendance/list answer at most [KB:API/0195]
SETTLE_DAYS = 3  # the last day imported: 3 days ago or before (a gap is settled 12 h after its shift)
WRITTEN = ("created", "updated", "removed", "exceptions", "resolved", "conflicts")


def parse_args():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--users", type=int)
    parser.add_argument("--days", type=int, help="calendar days imported (default 1, 30 with --backfill)")
    parser.add_argument("--backfill", action="store_true", help="the backfill preset: 2,000 people × 30 days")
    parser.add_argument("--departments", type=int)
    parser.add_argument("--roles", type=int, default=20)
    parser.add_argument("--latency-ms", type=int, default=30)
    parser.add_argument("--qps", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--missing-rate", type=float, default=0.03)
    parser.add_argument("--app-key", default="dingsandboxappkey0001")
    parser.add_argument("--app-secret", default="sandbox-app-secret")
    parser.add_argument("--db", default="ziqi_bench_att")
    parser.add_argument(
        "--keep-db",
        action="store_true",
        help="reuse --db if the addon is installed and its directory synced (same --users and --seed): "
        "the addon is updated, its imported attendances, exceptions and overtime deleted",
    )
    parser.add_argument(
        "--profile", action="store_true", help="cProfile the first import (top 25 cumulative, stderr)"
    )
    parser.add_argument("--profile-out", help="with --profile: also dump the profile to this file")
    args = parser.parse_args()
    args.users = args.users or (2000 if args.backfill else 10000)
    args.days = args.days or (30 if args.backfill else 1)
    args.departments = args.departments or max(1, args.users // 20)
    return args


def work_days(days):
    """``days`` calendar days ending on the last weekday at least SETTLE_DAYS ago."""
    last = datetime.date.today() - datetime.timedelta(days=SETTLE_DAYS)
    while last.weekday() >= 5:
        last -= datetime.timedelta(days=1)
    return last - datetime.timedelta(days=days - 1), last


def control(url, path, body=None):
    """A call to the sandbox's control API (GET without ``body``)."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        f"{url}/_sandbox/{path}", data=data, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.loads(answer.read())


def cpu_seconds(pid):
    """User + system CPU seconds of process ``pid`` so far."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def own_cpu_seconds():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def memory_mb(key):
    """``VmRSS`` (now) or ``VmHWM`` (peak since start or the last reset) of this process, in MB."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def reset_peak_memory():
    """Make VmHWM start again from the current RSS (Linux ≥ 4.0), so the peak is the import's own."""
    try:
        with open("/proc/self/clear_refs", "w") as refs:
            refs.write("5")
        return True
    except OSError:
        return False


def installed(db):
    """Whether ``db`` exists with the addon installed."""
    probe = subprocess.run(
        ["psql", "-XAtq", "-d", db, "-c", f"SELECT state FROM ir_module_module WHERE name = '{ADDON}'"],
        capture_output=True,
        text=True,
    )
    return probe.returncode == 0 and probe.stdout.strip() == "installed"


def fresh_database(db):
    """Drop ``db`` and create it again with the attendance addon installed (no demo data)."""
    subprocess.run(["dropdb", "--if-exists", db], check=True, stderr=subprocess.DEVNULL)
    subprocess.run(
        odoo_bin("-d", db, "-i", ADDON, *NO_DEMO, "--stop-after-init", "--log-level=error"),
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def sync_directory(registry, company_id):
    """The full directory sync, one step per transaction (as the cron runs it); returns seconds and state."""
    started = time.monotonic()
    with registry.cursor() as cr:
        env = api.Environment(cr, SUPERUSER_ID, {})
        company = env["res.company"].browse(company_id)
        run_id = env["ziqi.dingtalk.sync.run"]._queue(company, "all", "shell").id
    active = True
    while active:
        with registry.cursor() as cr:
            run = api.Environment(cr, SUPERUSER_ID, {})["ziqi.dingtalk.sync.run"].browse(run_id)
            active = run._step_locked()
            state = run.state
    return time.monotonic() - started, state


def forget_imports(cr):
    """What an earlier run of this benchmark imported (``--keep-db``), and the cached access token."""
    cr.execute("SELECT to_regclass('hr_attendance_overtime'), to_regclass('hr_attendance_overtime_line')")
    overtime = [table for table in cr.fetchone() if table]
    for table in (
        "ziqi_dingtalk_attendance_exception",
        "ziqi_dingtalk_attendance_run",
        "ziqi_dingtalk_token",
        *overtime,
    ):
        cr.execute(f"DELETE FROM {table}")
    cr.execute("DELETE FROM hr_attendance WHERE dingtalk_key IS NOT NULL")


def table_state(cr):
    """``(count, max(write_date))`` of the attendances and of the exceptions: unchanged = nothing written."""
    cr.execute("SELECT count(*), max(write_date) FROM hr_attendance")
    attendances = cr.fetchone()
    cr.execute("SELECT count(*), max(write_date) FROM ziqi_dingtalk_attendance_exception")
    return {
        "hr_attendance": [attendances[0], str(attendances[1])],
        "exceptions": list(map(str, cr.fetchone())),
    }


def run_import(registry, company_id, date_from, date_to, url, sandbox_pid, profile=False, dump=None):
    """One import run of the days (``_queue`` then ``_run``, committed at the end), timed."""
    control(url, "stats/reset", {})
    sandbox_cpu, odoo_cpu = cpu_seconds(sandbox_pid), own_cpu_seconds()
    profiler = cProfile.Profile() if profile else None
    started = time.monotonic()
    with registry.cursor() as cr:
        env = api.Environment(cr, SUPERUSER_ID, {})
        company = env["res.company"].browse(company_id)
        run = env["ziqi.dingtalk.attendance.run"]._queue(company, date_from, date_to, "backfill")
        if profiler:
            profiler.enable()
        run._run()
        if profiler:
            profiler.disable()
        figures = {
            "state": run.state,
            "error": run.error or None,
            "shifts": run.shifts,
            **{name: run[name] for name in ("unchanged", "pending", *WRITTEN)},
        }
    wall = time.monotonic() - started
    stats = control(url, "stats")
    figures.update(
        wall_s=wall,
        run_duration_s=None,
        calls=stats["calls"].get(LIST_PATH, 0),
        throttled=stats["throttled"].get(LIST_PATH, 0),
        odoo_cpu_s=own_cpu_seconds() - odoo_cpu,
        sandbox_cpu_s=cpu_seconds(sandbox_pid) - sandbox_cpu,
    )
    with registry.cursor() as cr:
        env = api.Environment(cr, SUPERUSER_ID, {})
        last = env["ziqi.dingtalk.attendance.run"].search([], limit=1)
        figures["run_duration_s"] = last.duration
    if profiler:
        if dump:
            profiler.dump_stats(dump)
        out = io.StringIO()
        stats_ = pstats.Stats(profiler, stream=out).sort_stats("cumulative")
        stats_.print_stats(25)
        stats_.sort_stats("tottime").print_stats(15)
        print(out.getvalue(), file=sys.stderr)
    return figures


def _f(value, digits=1):
    return f"{value:,.{digits}f}"


def print_table(result):
    first, second = result["first"], result["second"]
    rows = [
        (
            "people × days",
            f"{result['users']:,} × {result['days']} ({result['date_from']} .. {result['date_to']})",
        ),
        ("shifts read (records)", f"{first['shifts']:,} ({result['records']:,})"),
        (
            "attendance/list calls",
            f"{first['calls']:,} (throttled {first['throttled']}); second run {second['calls']:,}",
        ),
        ("API lower bound = calls / qps", f"{_f(result['api_lower_bound_s'])} s"),
        ("minimum = ceil(records / 50) / qps", f"{_f(result['api_minimum_s'])} s"),
        (
            "first import",
            f"{_f(first['wall_s'])} s, ratio {result['first_ratio']:.2f} (goal ≤ 1.25); "
            f"created {first['created']:,}, exceptions {first['exceptions']:,}, pending {first['pending']}",
        ),
        (
            "  CPU during it",
            f"Odoo {_f(first['odoo_cpu_s'])} s, sandbox {_f(first['sandbox_cpu_s'])} s",
        ),
        (
            "second import (same days)",
            f"{_f(second['wall_s'])} s, ratio {result['second_ratio']:.2f}; "
            f"unchanged {second['unchanged']:,}, written "
            + ", ".join(f"{name} {second[name]}" for name in WRITTEN),
        ),
        ("  CPU during it", f"Odoo {_f(second['odoo_cpu_s'])} s, sandbox {_f(second['sandbox_cpu_s'])} s"),
        (
            "tables unchanged by it",
            f"{result['nothing_written']} (hr_attendance count, max(write_date) = "
            f"{result['tables_after_first']['hr_attendance'][0]:,}, "
            f"{result['tables_after_first']['hr_attendance'][1]})",
        ),
        (
            "peak RSS of the Odoo process",
            f"{_f(result['peak_rss_import_mb'], 0)} MB during the imports "
            f"(before them {_f(result['rss_before_mb'], 0)} MB; "
            f"whole process {_f(result['peak_rss_mb'], 0)} MB)",
        ),
    ]
    width = max(len(label) for label, _ in rows)
    print()
    for label, value in rows:
        print(f"{label.ljust(width)}  {value}")
    print()


def main():
    args = parse_args()
    date_from, date_to = work_days(args.days)
    try:
        sandbox, url = start_sandbox(args)
    except RuntimeError as error:
        sys.exit(str(error))
    try:
        config = {"default_schedule": True, "auto_punch": True, "missing_rate": args.missing_rate}
        control(url, "attendance/config", dict(config, seed=args.seed))
        keep = args.keep_db and installed(args.db)
        setup_started = time.monotonic()
        if keep:  # the addon's schema may have changed since
            subprocess.run(
                odoo_bin("-d", args.db, "-u", ADDON, "--stop-after-init", "--log-level=error"),
                check=True,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        else:
            fresh_database(args.db)
        install_s = time.monotonic() - setup_started
        odoo.tools.config.parse_config(odoo_args("-d", args.db, "--log-level=warn"), setup_logging=True)
        registry = odoo.modules.registry.Registry(args.db)
        with registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            if keep:
                forget_imports(cr)
            company_id = point_company_at_sandbox(env, url, args)
        sync_s, sync_state = (None, "kept") if keep else sync_directory(registry, company_id)
        with registry.cursor() as cr:
            cr.execute(
                "SELECT count(*) FROM hr_employee WHERE company_id = %s AND dingtalk_userid IS NOT NULL",
                [company_id],
            )
            bound = cr.fetchone()[0]
        print(
            f"setup: install {install_s:.1f} s, sync {sync_s and round(sync_s, 1)} s ({sync_state}), "
            f"{bound} employees bound; importing {date_from} .. {date_to}",
            file=sys.stderr,
        )
        rss_before = memory_mb("VmRSS")
        peak_reset = reset_peak_memory()
        first = run_import(
            registry, company_id, date_from, date_to, url, sandbox.pid, args.profile, args.profile_out
        )
        with registry.cursor() as cr:
            tables_first = table_state(cr)
        second = run_import(registry, company_id, date_from, date_to, url, sandbox.pid)
        with registry.cursor() as cr:
            tables_second = table_state(cr)
        peak_import = memory_mb("VmHWM") if peak_reset else None
        records = 2 * first["shifts"]  # every generated shift is one OnDuty and one OffDuty result
        lower_bound = first["calls"] / args.qps
        result = {
            "odoo": odoo.release.version,
            "users": args.users,
            "bound_employees": bound,
            "days": args.days,
            "date_from": str(date_from),
            "date_to": str(date_to),
            "latency_ms": args.latency_ms,
            "qps": args.qps,
            "sync_s": sync_s and round(sync_s, 1),
            "records": records,
            "api_lower_bound_s": lower_bound,
            "api_minimum_s": math.ceil(records / PAGE) / args.qps,
            "first_ratio": first["wall_s"] / lower_bound if lower_bound else float("nan"),
            "second_ratio": second["wall_s"] / lower_bound if lower_bound else float("nan"),
            "first": first,
            "second": second,
            "tables_after_first": tables_first,
            "tables_after_second": tables_second,
            "nothing_written": tables_first == tables_second and not any(second[name] for name in WRITTEN),
            "rss_before_mb": rss_before,
            "peak_rss_import_mb": peak_import,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        }
        print_table(result)
        print(json.dumps(_rounded(result), ensure_ascii=False))
    finally:
        sandbox.terminate()
        sandbox.wait(10)


def _rounded(value):
    if isinstance(value, float):
        return round(value, 2)
    if isinstance(value, dict):
        return {key: _rounded(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_rounded(item) for item in value]
    return value


if __name__ == "__main__":
    main()
