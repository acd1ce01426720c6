import collections
import datetime
import logging
import time

from odoo import api, fields, models
from odoo.addons.ziqi_dingtalk.compat import cron_progress
from odoo.addons.ziqi_dingtalk.dingtalk import errors as dt_errors
from odoo.exceptions import UserError

_logger = logging.getLogger(__name__)

COUNTS = (
    "created",
    "updated",
    "unchanged",
    "removed",
    "exceptions",
    "resolved",
    "pending",
    "on_leave",
    "conflicts",
)
# a backfill covers at most a year (DingTalk keeps punch results for half a year [KB:API/0195])
MAX_DAYS = 366
STEP_DAYS = 7  # a cron call imports this many days of a run (attendance/list's window [KB:API/0195])
MAX_REREAD = 30


class ZiqiDingtalkAttendanceRun(models.Model):
    """One import of DingTalk punch results over some work days: queued by the nightly job or the backfill
    wizard, run by ``_cron_process`` (never in the request that queued it), and kept with its figures as the
    import's log. (A punch event imports its people's days at once, in the inbox: its result says what.)"""

    _name = "ziqi.dingtalk.attendance.run"
    _description = "DingTalk attendance import"
    _order = "id desc"

    company_id = fields.Many2one("res.company", required=True, readonly=True, index=True)
    trigger = fields.Selection(
        [("nightly", "Nightly"), ("backfill", "Backfill")],
        required=True,
        readonly=True,
    )
    date_from = fields.Date("From", required=True, readonly=True)
    date_to = fields.Date("To", required=True, readonly=True)
    employee_ids = fields.Many2many(
        "hr.employee", string="Employees", readonly=True, help="Empty: everyone bound to DingTalk."
    )
    state = fields.Selection(
        [("queued", "Queued"), ("running", "Running"), ("done", "Done"), ("failed", "Failed")],
        default="queued",
        required=True,
        readonly=True,
        index=True,
    )
    next_date = fields.Date("Next day", readonly=True, help="The first day not imported yet.")
    error = fields.Text(readonly=True)
    started_at = fields.Datetime(readonly=True)
    duration = fields.Float("Duration (s)", readonly=True, digits=(16, 1))
    shifts = fields.Integer(readonly=True)
    created = fields.Integer(readonly=True)
    updated = fields.Integer(readonly=True)
    unchanged = fields.Integer(readonly=True)
    removed = fields.Integer(readonly=True)
    exceptions = fields.Integer("New exceptions", readonly=True)
    resolved = fields.Integer("Exceptions resolved", readonly=True)
    pending = fields.Integer(readonly=True, help="Incomplete shifts DingTalk may still take a punch for.")
    on_leave = fields.Integer(
        "On leave", readonly=True, help="Shifts without punches during time off in Odoo."
    )
    conflicts = fields.Integer(readonly=True)

    @api.depends("company_id", "date_from", "date_to")
    def _compute_display_name(self):
        for run in self:
            run.display_name = f"{run.date_from} → {run.date_to}"

    @api.model
    def _queue(self, company, date_from, date_to, trigger, employees=None):
        if date_to < date_from:
            raise UserError(self.env._("The last day comes before the first."))
        if (date_to - date_from).days >= MAX_DAYS:
            raise UserError(self.env._("Import at most %(days)s days at a time.", days=MAX_DAYS))
        run = self.sudo().create(
            {
                "company_id": company.id,
                "date_from": date_from,
                "date_to": date_to,
                "trigger": trigger,
                "employee_ids": [(6, 0, employees.ids if employees else [])],
            }
        )
        self.env.ref("ziqi_dingtalk_attendance.ir_cron_dingtalk_attendance_process").sudo()._trigger()
        return run

    def _employees(self):
        """The run's employees bound to DingTalk in its company (those who left included)."""
        domain = [("company_id", "=", self.company_id.id), ("dingtalk_userid", "!=", False)]
        if self.employee_ids:
            domain.append(("id", "in", self.employee_ids.ids))
        return self.env["hr.employee"].sudo().with_context(active_test=False).search(domain)

    def _run(self):
        """Import all of this run's days, a step at a time (the cron does one step per call)."""
        self.ensure_one()
        while self.state in ("queued", "running"):
            self._step()

    def _step(self):
        """Import the next days of this run (at most STEP_DAYS), adding its figures to the run's. A failure
        fails the run (alerting the admin) and never the job: the other runs go on."""
        self.ensure_one()
        first = self.next_date or self.date_from
        last = min(first + datetime.timedelta(days=STEP_DAYS - 1), self.date_to)
        if self.state == "queued":
            self.write({"state": "running", "started_at": fields.Datetime.now(), "error": False})
        counts, started = collections.Counter(), time.monotonic()
        try:
            with self.env.cr.savepoint():
                self.env["ziqi.dingtalk.attendance.importer"]._import(
                    self.company_id, self._employees(), first, last, counts
                )
        except Exception as error:  # pylint: disable=broad-except - whatever went wrong, this run fails alone
            self._fail(error, time.monotonic() - started)
            return
        vals = {name: self[name] + counts[name] for name in ("shifts", *COUNTS)}
        vals.update(
            duration=self.duration + time.monotonic() - started, next_date=last + datetime.timedelta(days=1)
        )
        if last >= self.date_to:
            vals["state"] = "done"
        self.write(vals)
        _logger.info("DingTalk attendance %s, %s..%s: %s", self.company_id.name, first, last, dict(counts))

    def _fail(self, error, duration):
        if isinstance(error, dt_errors.DingTalkError):
            message = self.company_id._dingtalk_error_message(error)
        elif isinstance(error, UserError):
            message = error.args[0]
        else:
            _logger.exception("DingTalk attendance import %s failed", self.id)
            message = self.env._("Unexpected error: %(error)s", error=repr(error))
        self.write({"state": "failed", "error": message, "duration": self.duration + duration})
        self.company_id._dingtalk_alert(
            self.env._("The DingTalk attendance import failed: %(error)s", error=message),
            key="attendance-import",
            record=self,
        )

    def _remaining_steps(self):
        return sum(
            -(-((run.date_to - (run.next_date or run.date_from)).days + 1) // STEP_DAYS) for run in self
        )

    @api.model
    def _cron_process(self):
        """One step of the oldest unfinished run; ir.cron calls again at once while steps remain."""
        runs = self.search([("state", "in", ("queued", "running"))], order="id")
        if not runs:
            return
        runs[0]._step()
        cron_progress(self.env, done=1, remaining=runs._remaining_steps())

    @api.model
    def _cron_nightly(self):
        """Yesterday, and the days before it that DingTalk may still correct (补卡 arrive late): queued for
        the import cron, which runs at once."""
        for company in self.env["res.company"]._dingtalk_configured_companies():
            yesterday = fields.Date.context_today(self.with_context(tz=company.dingtalk_timezone))
            yesterday -= datetime.timedelta(days=1)
            reread = min(max(1, company.dingtalk_attendance_reread_days), MAX_REREAD)
            self._queue(company, yesterday - datetime.timedelta(days=reread), yesterday, "nightly")

    def action_retry(self):
        self.filtered(lambda run: run.state == "failed").sudo().write({"state": "queued", "error": False})
        self.env.ref("ziqi_dingtalk_attendance.ir_cron_dingtalk_attendance_process").sudo()._trigger()
        return True
