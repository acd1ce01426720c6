from odoo import fields, models
from odoo.exceptions import AccessError


class ZiqiDingtalkLeaveTypeRefresh(models.TransientModel):
    """Read the leave types from DingTalk, as the administrator given (kept on the company)."""

    _name = "ziqi.dingtalk.leave.type.refresh"
    _description = "Refresh DingTalk Leave Types"

    company_id = fields.Many2one("res.company", required=True, default=lambda self: self.env.company)
    admin_userid = fields.Char(
        "DingTalk Administrator userid",
        required=True,
        default=lambda self: self.env.company.sudo().dingtalk_leave_admin_userid,
        help="DingTalk lists the leave types only to an administrator with OA rights.",
    )

    def action_refresh(self):
        self.ensure_one()
        if self.company_id not in self.env.companies:
            raise AccessError(self.env._("You may refresh the leave types of your own companies only."))
        company = self.company_id.sudo()
        userid = (self.admin_userid or "").strip()
        if company.dingtalk_leave_admin_userid != userid:
            company.dingtalk_leave_admin_userid = userid
        self.env["ziqi.dingtalk.leave.type"]._refresh_company(self.company_id)
        return self.env["ir.actions.act_window"]._for_xml_id(
            "ziqi_dingtalk_leave.action_ziqi_dingtalk_leave_type"
        )
