from odoo import api, fields, models
from odoo.exceptions import ValidationError


class ResCompany(models.Model):
    _inherit = "res.company"

    dingtalk_attendance_reread_days = fields.Integer(
        "Days read again",
        default=3,
        help="The nightly import reads yesterday and this many days before it again: corrections (补卡) and "
        "missing punches reach DingTalk late.",
    )

    @api.constrains("dingtalk_attendance_reread_days")
    def _check_dingtalk_attendance_reread_days(self):
        if any(not 1 <= company.dingtalk_attendance_reread_days <= 30 for company in self):
            raise ValidationError(self.env._("DingTalk attendance: read again between 1 and 30 days."))
