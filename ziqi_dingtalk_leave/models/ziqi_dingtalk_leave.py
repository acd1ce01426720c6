import logging

from odoo import api, fields, models
from odoo.addons.ziqi_dingtalk.compat import constraint
from odoo.addons.ziqi_dingtalk.dingtalk import errors as dt_errors
from odoo.exceptions import AccessError, UserError

_logger = logging.getLogger(__name__)

STATES = [
    ("imported", "Imported"),
    ("unmapped", "Type Not Mapped"),
    ("failed", "Failed"),
    ("revoked", "Revoked"),
]


class ZiqiDingtalkLeave(models.Model):
    """A leave approved in DingTalk (one entry of getleavestatus) and what its import made of it: the
    binding between DingTalk's leave and the Odoo time off, written only by the import."""

    _name = "ziqi.dingtalk.leave"
    _description = "DingTalk Leave"
    _order = "start desc, id desc"
    _rec_name = "key"

    company_id = fields.Many2one("res.company", required=True, readonly=True, index=True)
    key = fields.Char(
        required=True, readonly=True, help="DingTalk's leave identity: person, type, start and end."
    )
    userid = fields.Char("DingTalk userid", required=True, readonly=True, index=True)
    employee_id = fields.Many2one("hr.employee", readonly=True, index=True)
    leave_type_id = fields.Many2one("ziqi.dingtalk.leave.type", "DingTalk Leave Type", readonly=True)
    holiday_status_id = fields.Many2one(related="leave_type_id.holiday_status_id", string="Odoo Type")
    start = fields.Datetime(required=True, readonly=True)
    end = fields.Datetime(required=True, readonly=True)
    unit = fields.Selection([("day", "Days"), ("hour", "Hours")], readonly=True)
    duration = fields.Float(readonly=True, help="As DingTalk counts it, in its unit.")
    state = fields.Selection(STATES, required=True, default="unmapped", readonly=True, index=True)
    message = fields.Text(readonly=True)
    leave_id = fields.Many2one("hr.leave", "Time Off", readonly=True, index="btree_not_null")
    leave_state = fields.Selection(related="leave_id.state", string="Time Off Status")

    _company_key_uniq = constraint(
        "unique(company_id, key)", "Each DingTalk leave is stored once per company."
    )

    @api.model
    def action_import_now(self):
        """Import the leave of the current company's people now (the nightly cron's work, at once)."""
        if not self.env.user.has_group("hr_holidays.group_hr_holidays_user"):
            raise AccessError(self.env._("Only Time Off officers may import the DingTalk leave."))
        report = self.env["ziqi.dingtalk.leave.importer"]._sync_company(self.env.company)
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "title": self.env._("DingTalk leave imported"),
                "message": report.summary(self.env),
                "type": "success",
                "next": {"type": "ir.actions.client", "tag": "soft_reload"},
            },
        }

    def action_open_leave(self):
        self.ensure_one()
        return {
            "type": "ir.actions.act_window",
            "res_model": "hr.leave",
            "res_id": self.leave_id.id,
            "view_mode": "form",
        }

    @api.model
    def _cron_import(self):
        importer = self.env["ziqi.dingtalk.leave.importer"]
        for company in self.env["res.company"]._dingtalk_configured_companies():
            try:
                with self.env.cr.savepoint():
                    importer._sync_company(company)
            except (UserError, dt_errors.DingTalkError) as error:  # one company never stops the others
                _logger.warning("DingTalk leave of %s not imported: %s", company.name, error)
