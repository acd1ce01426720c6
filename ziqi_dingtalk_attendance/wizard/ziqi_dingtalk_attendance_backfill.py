from odoo import fields, models
from odoo.exceptions import UserError


class ZiqiDingtalkAttendanceBackfill(models.TransientModel):
    """Import the punch results of a range of past work days (at the first install, after an outage)."""

    _name = "ziqi.dingtalk.attendance.backfill"
    _description = "Import DingTalk attendance of past days"

    company_id = fields.Many2one("res.company", required=True, default=lambda self: self.env.company)
    date_from = fields.Date("From", required=True)
    date_to = fields.Date("To", required=True, default=lambda self: fields.Date.context_today(self))
    employee_ids = fields.Many2many(
        "hr.employee",
        string="Employees",
        domain="[('company_id', '=', company_id)]",
        help="Empty: everyone bound to DingTalk, those who left included.",
    )

    def action_import(self):
        self.ensure_one()
        if self.company_id not in self.env.companies:
            raise UserError(self.env._("Import the attendance of your own companies only."))
        if self.employee_ids.filtered(lambda employee: employee.company_id != self.company_id):
            raise UserError(self.env._("Choose employees of %(company)s.", company=self.company_id.name))
        run = self.env["ziqi.dingtalk.attendance.run"]._queue(
            self.company_id, self.date_from, self.date_to, "backfill", self.employee_ids
        )
        return {
            "type": "ir.actions.act_window",
            "res_model": run._name,
            "res_id": run.id,
            "view_mode": "form",
            "target": "current",
        }
