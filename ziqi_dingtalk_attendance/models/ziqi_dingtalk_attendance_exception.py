from odoo import fields, models
from odoo.addons.ziqi_dingtalk.compat import constraint
from odoo.exceptions import AccessError, UserError, ValidationError

from .hr_attendance import importing

# what HR types on an exception; the rest is DingTalk's, written by the import and the actions
HR_FIELDS = {"check_in", "check_out"}

MISSING = [
    ("on", "Check-in missing"),
    ("off", "Check-out missing"),
    ("both", "No punch (absent)"),
    ("conflict", "Overlaps another attendance"),
]


class ZiqiDingtalkAttendanceException(models.Model):
    """A DingTalk shift that could not become a whole attendance: a punch is missing (未打卡) or the shift
    overlaps an attendance recorded in Odoo. No attendance exists for it until the shift is complete: a
    later correction (补卡) in DingTalk completes it on the next import, or HR enters the missing time here,
    or dismisses it (a day off arranged outside DingTalk, say). One exception per shift (``key``)."""

    _name = "ziqi.dingtalk.attendance.exception"
    _description = "DingTalk attendance exception"
    _inherit = ["mail.thread"]
    _order = "work_date desc, employee_id, scheduled_in"
    _rec_name = "employee_id"

    company_id = fields.Many2one("res.company", required=True, readonly=True, index=True)
    employee_id = fields.Many2one("hr.employee", required=True, readonly=True, index=True)
    department_id = fields.Many2one(related="employee_id.department_id", store=True)
    key = fields.Char("DingTalk shift", required=True, readonly=True)
    work_date = fields.Date(required=True, readonly=True)
    missing = fields.Selection(MISSING, "Problem", required=True, readonly=True, tracking=True)
    scheduled_in = fields.Datetime("Scheduled check-in", readonly=True)
    scheduled_out = fields.Datetime("Scheduled check-out", readonly=True)
    punched_in = fields.Datetime("Punched in", readonly=True, help="The check-in DingTalk recorded, if any.")
    punched_out = fields.Datetime(
        "Punched out", readonly=True, help="The check-out DingTalk recorded, if any."
    )
    detail = fields.Char(readonly=True, help="Why Odoo refused the attendance, for an overlap.")
    state = fields.Selection(
        [("open", "To resolve"), ("resolved", "Resolved"), ("dismissed", "Dismissed")],
        default="open",
        required=True,
        readonly=True,
        tracking=True,
        index=True,
    )
    resolution = fields.Selection(
        [("dingtalk", "Completed in DingTalk (补卡)"), ("manual", "Times entered in Odoo")], readonly=True
    )
    check_in = fields.Datetime(help="The check-in to record: the punch, or the time HR enters.")
    check_out = fields.Datetime(help="The check-out to record: the punch, or the time HR enters.")
    attendance_id = fields.Many2one("hr.attendance", readonly=True, ondelete="set null")

    _key_uniq = constraint("unique(company_id, employee_id, key)", "One exception per DingTalk shift.")

    def write(self, vals):
        if not self.env.su and set(vals) - HR_FIELDS - {"message_main_attachment_id"}:
            raise AccessError(
                self.env._("Only the check-in and check-out of a DingTalk exception can be edited.")
            )
        return super().write(vals)

    def action_resolve(self):
        """Record the attendance with the times on the exception (the punch and what HR entered), as the user:
        Odoo's own rules decide whose attendances they may record. It keeps the DingTalk shift's key, so a
        correction arriving later updates it instead of adding another."""
        for exception in self:
            if exception.state != "open":
                raise UserError(self.env._("Only an exception to resolve can be resolved."))
            if not (exception.check_in and exception.check_out):
                raise UserError(self.env._("Enter both the check-in and the check-out to record."))
            if (
                self.env["hr.attendance"]
                .sudo()
                .search_count(
                    [("employee_id", "=", exception.employee_id.id), ("dingtalk_key", "=", exception.key)]
                )
            ):
                raise UserError(self.env._("This shift already has its attendance."))
            vals = {
                "employee_id": exception.employee_id.id,
                "check_in": exception.check_in,
                "check_out": exception.check_out,
                "dingtalk_key": exception.key,
                "dingtalk_work_date": exception.work_date,
            }
            try:
                with self.env.cr.savepoint():
                    attendance = importing(self.env["hr.attendance"]).create(vals)
            except ValidationError as error:
                raise UserError(error.args[0]) from None
            exception.sudo().write(
                {"state": "resolved", "resolution": "manual", "attendance_id": attendance.id}
            )
            exception._message_log(body=self.env._("Resolved with the times entered in Odoo."))
        return True

    def action_dismiss(self):
        self.filtered(lambda e: e.state == "open").sudo().write({"state": "dismissed"})
        return True

    def action_reopen(self):
        if self.filtered("attendance_id"):
            raise UserError(self.env._("An exception that made an attendance cannot be reopened."))
        self.sudo().write({"state": "open"})
        return True
