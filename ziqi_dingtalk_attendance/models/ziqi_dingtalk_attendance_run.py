import collections
import datetime
import logging
import time

from odoo import api, fields, models
from odoo.addons.ziqi_dingtalk.dingtalk import errors as dt_errors
from odoo.exceptions import UserError

_logger = logging.getLogger(__name__)

COUNTS = ("created", "updated", "unchanged", "removed", "exceptions", "resolved", "pending", "conflicts")
MAX_DAYS = (
    366  # a backfill covers at most a year (DingTalk keeps punch results for half a year [KB:API/0195])
)


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
        if self.employee_ids:
            return self.employee_ids.with_context(active_test=False)
        return (
            self.env["hr.employee"]
            .sudo()
            .with_context(active_test=False)
            .search([("company_id", "=", self.company_id.id), ("dingtalk_userid", "!=", False)])
        )

    def _run(self):
        """Import this run's days; a DingTalk failure fails the run (alerting the admin), never the job."""
        self.ensure_one()
        self.write({"state": "running", "started_at": fields.Datetime.now(), "error": False})
        counts, started = collections.Counter(), time.monotonic()
        try:
            with self.env.cr.savepoint():
                self.env["ziqi.dingtalk.attendance.importer"]._import(
                    self.company_id, self._employees(), self.date_from, self.date_to, counts
                )
        except (dt_errors.DingTalkError, UserError) as error:
            message = (
                self.company_id._dingtalk_error_message(error)
                if isinstance(error, dt_errors.DingTalkError)
                else error.args[0]
            )
            self.write({"state": "failed", "error": message, "duration": time.monotonic() - started})
            self.company_id._dingtalk_alert(
                self.env._("The DingTalk attendance import failed: %(error)s", error=message),
                key="attendance-import",
                record=self,
            )
            return
        self.write(
            {
                "state": "done",
                "duration": time.monotonic() - started,
                "shifts": counts["shifts"],
                **{name: counts[name] for name in COUNTS},
            }
        )

    @api.model
    def _cron_process(self):
        for run in self.search([("state", "=", "queued")], order="id"):
            run._run()

    @api.model
    def _cron_nightly(self):
        """Yesterday, and the days before it that DingTalk may still correct (补卡 arrive late)."""
        for company in self.env["res.company"]._dingtalk_configured_companies():
            yesterday = fields.Date.context_today(self.with_context(tz=company.dingtalk_attendance_tz))
            yesterday -= datetime.timedelta(days=1)
            reread = max(0, company.dingtalk_attendance_reread_days)
            self._queue(company, yesterday - datetime.timedelta(days=reread), yesterday, "nightly")
        self._cron_process()

    def action_retry(self):
        self.filtered(lambda run: run.state == "failed").sudo().write({"state": "queued"})
        self.env.ref("ziqi_dingtalk_attendance.ir_cron_dingtalk_attendance_process").sudo()._trigger()
        return True
