from odoo import fields, models


class ResConfigSettings(models.TransientModel):
    _inherit = "res.config.settings"

    dingtalk_attendance_reread_days = fields.Integer(
        related="company_id.dingtalk_attendance_reread_days", readonly=False
    )
