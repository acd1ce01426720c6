import json
import logging
import time

from psycopg2.extras import execute_values

from odoo import api, fields, models
from odoo.tools import SQL

from ..compat import cron_progress
from ..dingtalk import errors as dt_errors
from ..dingtalk.directory import DirectoryWalker, ManagerReader
from .import_report import COUNTERS, ImportReport

_logger = logging.getLogger(__name__)

ACTIVE_STATES = ("queued", "running")
# the old ?type= values of /autoexe/dingtalk/sync, and ours
KIND_ALIASES = {
    "dept": "departments",
    "role": "roles",
    "user": "users",
    "all": "all",
    "departments": "departments",
    "roles": "roles",
    "users": "users",
}
KIND_PHASES = {
    "all": ("fetch", "departments", "users", "roles", "finalize"),
    "departments": ("fetch", "departments", "finalize"),
    "users": ("fetch", "users", "finalize"),
    "roles": ("fetch", "roles", "finalize"),
}
STAGE_CHUNK = 1000
USER_BATCH = 2000  # people applied per step


class ZiqiDingtalkSyncRun(models.Model):
    """One directory sync of a company, run step by step by the sync cron (the synchronizer)."""

    _name = "ziqi.dingtalk.sync.run"
    _description = "DingTalk Sync Run"
    _order = "id desc"

    company_id = fields.Many2one("res.company", required=True, readonly=True, index=True)
    kind = fields.Selection(
        [("all", "Everything"), ("departments", "Departments"), ("users", "People"), ("roles", "Roles")],
        required=True,
        default="all",
        readonly=True,
    )
    trigger = fields.Selection(
        [("manual", "Button"), ("cron", "Schedule"), ("shell", "Server shell"), ("http", "API call")],
        required=True,
        default="manual",
        readonly=True,
    )
    state = fields.Selection(
        [
            ("queued", "Queued"),
            ("running", "Running"),
            ("done", "Done"),
            ("stopped", "Stopped"),
            ("failed", "Failed"),
        ],
        required=True,
        default="queued",
        readonly=True,
        index=True,
    )
    phase = fields.Selection(
        [
            ("fetch", "Reading DingTalk"),
            ("departments", "Departments"),
            ("users", "People"),
            ("roles", "Roles"),
            ("finalize", "Managers and leavers"),
            ("done", "Done"),
        ],
        required=True,
        default="fetch",
        readonly=True,
    )
    cursor = fields.Char(readonly=True, help="Last person applied, to resume after a crash.")
    walk_complete = fields.Boolean(readonly=True, help="DingTalk answered every call of the directory walk.")
    departments_outside_scope = fields.Integer(
        readonly=True, help="Departments DingTalk lists but outside the app's contacts scope (not synced)."
    )
    started_at = fields.Datetime(readonly=True)
    ended_at = fields.Datetime(readonly=True)
    elapsed = fields.Float("Elapsed (s)", readonly=True, digits=(16, 1))
    stats = fields.Json(readonly=True, default=lambda self: {})
    api_calls = fields.Json("DingTalk Calls", readonly=True, default=lambda self: {})
    api_call_count = fields.Integer("DingTalk Calls Made", readonly=True)
    records_written = fields.Integer(readonly=True)
    log_ids = fields.One2many("ziqi.dingtalk.sync.log", "run_id", string="Errors", readonly=True)
    error_count = fields.Integer(compute="_compute_error_count")
    summary = fields.Char(compute="_compute_summary")
    api_calls_report = fields.Text("Calls per API", compute="_compute_api_calls_report")

    def init(self):
        self.env.cr.execute(
            """CREATE UNIQUE INDEX IF NOT EXISTS ziqi_dingtalk_sync_run_one_active
               ON ziqi_dingtalk_sync_run (company_id) WHERE state IN ('queued', 'running')"""
        )

    @api.depends("log_ids")
    def _compute_error_count(self):
        for run in self:
            run.error_count = len(run.log_ids)

    @api.depends("stats")
    def _compute_summary(self):
        labels = {
            "departments": self.env._("Departments"),
            "users": self.env._("People"),
            "roles": self.env._("Roles"),
        }
        words = {
            "created": self.env._("created"),
            "updated": self.env._("updated"),
            "archived": self.env._("archived"),
            "unchanged": self.env._("unchanged"),
            "failed": self.env._("failed"),
        }
        for run in self:
            parts = []
            for kind, label in labels.items():
                counts = (run.stats or {}).get(kind) or {}
                numbers = ", ".join(f"{counts[key]} {words[key]}" for key in COUNTERS if counts.get(key))
                if numbers:
                    parts.append(f"{label}: {numbers}")
            run.summary = "; ".join(parts)

    @api.depends("api_calls")
    def _compute_api_calls_report(self):
        for run in self:
            calls = sorted((run.api_calls or {}).items(), key=lambda item: (-item[1], item[0]))
            run.api_calls_report = "\n".join(f"{count:>8}  {path}" for path, count in calls)

    @api.depends("company_id")
    def _compute_display_name(self):
        for run in self:
            run.display_name = self.env._("DingTalk sync #%(id)s", id=run.id)

    # --- queueing ---

    @api.model
    def _queue(self, company, kind="all", trigger="manual"):
        """The company's active run, or a new queued one; wakes the sync cron."""
        run = self.search([("company_id", "=", company.id), ("state", "in", ACTIVE_STATES)], limit=1)
        if not run:
            run = self.sudo().create({"company_id": company.id, "kind": kind, "trigger": trigger})
        self.env.ref("ziqi_dingtalk.ir_cron_dingtalk_sync_process")._trigger()
        return run

    def action_refresh(self):
        """Button on the run form: nothing to do but reload it (the cron works in the background)."""
        return True

    @api.model
    def _cron_schedule(self):
        """Nightly: queue a full sync for every company with DingTalk configured."""
        for company in self.env["res.company"]._dingtalk_configured_companies():
            self._queue(company, "all", "cron")

    @api.model
    def _cron_process(self):
        """One step of the oldest active run per call; the cron calls again while work remains."""
        self.flush_model(["state"])
        self.env.cr.execute(
            """SELECT id FROM ziqi_dingtalk_sync_run WHERE state IN %s ORDER BY id
               LIMIT 1 FOR UPDATE SKIP LOCKED""",
            [ACTIVE_STATES],
        )
        row = self.env.cr.fetchone()
        if not row:
            return
        run = self.browse(row[0])
        run._step()
        remaining = self.search_count([("state", "in", ACTIVE_STATES)])
        cron_progress(self.env, done=1, remaining=remaining)

    def _step_locked(self):
        """One step, holding the run's row so a cron worker and a shell never step the same run at once.
        Returns False once the run has ended."""
        self.flush_recordset(["state"])
        self.env.cr.execute("SELECT state FROM ziqi_dingtalk_sync_run WHERE id = %s FOR UPDATE", [self.id])
        self.invalidate_recordset(["state"])
        if self.state not in ACTIVE_STATES:
            return False
        self._step()
        return self.state in ACTIVE_STATES

    def _run_to_end(self):
        """Run every step now, in this transaction (tests, and callers that commit themselves)."""
        self.ensure_one()
        while self.state in ACTIVE_STATES:
            self._step()
        return self

    # --- steps ---

    def _step(self):
        self.ensure_one()
        if self.state == "queued":
            self.write({"state": "running", "started_at": fields.Datetime.now()})
        started = time.monotonic()
        try:
            with self.env.cr.savepoint():
                finished = getattr(self, f"_step_{self.phase}")()
        except Exception as error:  # any failure ends the run, recorded and alerted
            _logger.exception("DingTalk sync #%s failed in phase %s", self.id, self.phase)
            message = str(error) or type(error).__name__
            if isinstance(error, dt_errors.DingTalkError):
                message = self.company_id._dingtalk_error_message(error)
            self._log("run", "", message)
            self._finish("failed", time.monotonic() - started)
            return
        self.elapsed += time.monotonic() - started
        if self.state == "stopped":
            self._finish("stopped")
        elif finished:
            self._next_phase()

    def _next_phase(self):
        phases = KIND_PHASES[self.kind]
        index = phases.index(self.phase) + 1
        if index < len(phases):
            self.write({"phase": phases[index], "cursor": False})
        else:
            self._finish("done")

    def _finish(self, state, extra_elapsed=0.0):
        self._clear_staging()
        self.write(
            {
                "state": state,
                "phase": "done",
                "ended_at": fields.Datetime.now(),
                "elapsed": self.elapsed + extra_elapsed,
            }
        )
        _logger.info(
            "DingTalk sync #%s %s in %.1fs: %s; %s DingTalk calls, %s records written, %s errors",
            self.id,
            state,
            self.elapsed,
            self.summary or "no changes",
            self.api_call_count,
            self.records_written,
            self.error_count,
        )
        if state in ("failed", "stopped") or self.error_count:
            self.company_id._dingtalk_alert_sync(self)

    def _step_fetch(self):
        client = self.company_id._dingtalk_client()
        client.access_token()  # read here, where the cursor is: the walk's threads only do HTTP
        walker = DirectoryWalker(
            client,
            departments=self.kind in ("all", "departments"),
            users=self.kind in ("all", "users"),
            roles=self.kind in ("all", "roles"),
        )
        rows = {}
        for item in walker:
            rows[item.kind, item.key] = item.payload
            if len(rows) >= STAGE_CHUNK:
                self._stage(rows)
                rows = {}
        self._stage(rows)
        report = ImportReport()
        self._report_fetch_errors(walker.errors, report)
        self._keep(report)
        self._count_calls(client)
        self.write({"walk_complete": walker.complete, "departments_outside_scope": len(walker.out_of_scope)})
        return True

    def _step_departments(self):
        report = ImportReport()
        staged = dict(self._staged("dept"))
        self._importer()._import_departments(
            self.company_id, staged, report, archive_missing=self.walk_complete
        )
        self._keep(report)
        return True

    def _step_users(self):
        """The next batch of people; their direct managers are read (user/get, the slowest of the walk's
        reads) while the batch is written."""
        batch = dict(self._staged("user", after=self.cursor, limit=USER_BATCH))
        if not batch:
            return True
        client = self.company_id._dingtalk_client()
        client.access_token()  # the reader's threads only do HTTP
        # a person granted by name was read with user/get already: their payload has their manager
        unread = [userid for userid, payload in batch.items() if "manager_userid" not in payload]
        report = ImportReport()
        with ManagerReader(client, unread) as reader:
            # everyone listed is staff: ``active: false`` only means they have not activated DingTalk yet
            # (protocol §9.1); only the full sync, which the admin starts or schedules, may match people
            _applied, changed = self._importer()._import_people(self.company_id, batch, report, match=True)
            managers, errors = reader.result()
        client.settle_token()
        self._importer()._import_direct_managers(self.company_id, managers, report, counted=changed)
        self._report_fetch_errors(errors, report)
        self._keep(report)
        self._count_calls(client)
        self.cursor = max(batch)
        return False

    def _step_roles(self):
        report = ImportReport()
        members = {key: payload["userids"] for key, payload in self._staged("role_members")}
        staged = dict(self._staged("role"))
        self._importer()._import_roles(self.company_id, staged, members, report, self.walk_complete)
        self._keep(report)
        return True

    def _step_finalize(self):
        report = ImportReport()
        if self.kind in ("all", "users", "departments"):
            self._importer()._apply_managers(self.company_id)
        if self.kind in ("all", "users", "roles"):
            self._importer()._apply_role_groups(self.company_id, report)
        if self.kind in ("all", "users") and self.walk_complete:
            self._archive_leavers(report)
        self._keep(report)
        if report.stopped:
            self.state = "stopped"
        return True

    def _archive_leavers(self, report):
        """Archive bound people no user list of this (complete) walk named (left, or now outside the app's
        contacts scope), once user/get confirms each of them, unless that is too many of them."""
        self.env.cr.execute(
            SQL("SELECT key FROM ziqi_dingtalk_sync_item WHERE run_id = %s AND kind = 'user'", self.id)
        )
        seen = {row[0] for row in self.env.cr.fetchall()}
        employees = self._importer()._employee_map(self.company_id)
        leavers = {uid: eid for uid, eid in employees.items() if uid not in seen}
        self._importer()._archive_leavers(self.company_id, leavers, report, record=self)

    # --- staging and bookkeeping helpers ---

    def _importer(self):
        return self.env["ziqi.dingtalk.importer"]

    def _report_fetch_errors(self, errors, report):
        for error in errors:
            report.problem(
                error.api, error.key, self.company_id._dingtalk_error_message(error), error.request_id
            )

    def _count_calls(self, client):
        """Add the calls ``client`` made to this run's per-API counts."""
        calls = dict(self.api_calls or {})
        for path, count in client.stats.items():
            calls[path] = calls.get(path, 0) + count
        self.write({"api_calls": calls, "api_call_count": sum(calls.values())})

    def _stage(self, rows):
        """Stage ``{(kind, key): payload}``; a payload staged again for the same key is merged into it."""
        if rows:
            execute_values(
                self.env.cr._obj,
                """INSERT INTO ziqi_dingtalk_sync_item AS item (run_id, kind, key, payload) VALUES %s
                   ON CONFLICT (run_id, kind, key)
                   DO UPDATE SET payload = item.payload || EXCLUDED.payload""",
                [(self.id, kind, key, json.dumps(payload)) for (kind, key), payload in rows.items()],
                template="(%s, %s, %s, %s::jsonb)",
            )

    def _staged(self, kind, after=None, limit=None):
        """Staged payloads of a kind, in key order, after the key ``after``."""
        self.env.cr.execute(
            SQL(
                """SELECT key, payload FROM ziqi_dingtalk_sync_item
                   WHERE run_id = %s AND kind = %s AND key > %s ORDER BY key %s""",
                self.id,
                kind,
                after or "",
                SQL("LIMIT %s", limit) if limit else SQL(),
            )
        )
        return self.env.cr.fetchall()

    def _clear_staging(self):
        self.env.cr.execute(SQL("DELETE FROM ziqi_dingtalk_sync_item WHERE run_id = %s", self.id))

    def _keep(self, report):
        """Add what the importer reported to this run: its counts, and a log line per problem."""
        stats = dict(self.stats or {})
        for kind, counts in report.counts.items():
            kept = dict(stats.get(kind) or dict.fromkeys(COUNTERS, 0))
            for counter, amount in counts.items():
                kept[counter] = kept.get(counter, 0) + amount
            stats[kind] = kept
        values = {"stats": stats} if report.counts else {}
        if report.written:
            values["records_written"] = self.records_written + report.written
        if values:
            self.write(values)
        if report.problems:
            self.env["ziqi.dingtalk.sync.log"].sudo().create(
                [
                    {
                        "run_id": self.id,
                        "kind": problem.kind,
                        "key": problem.key or False,
                        "message": problem.message[:2000],
                        "request_id": problem.request_id or False,
                    }
                    for problem in report.problems
                ]
            )

    def _log(self, kind, key, message, request_id=None):
        report = ImportReport()
        report.problem(kind, key, message, request_id)
        self._keep(report)
