from odoo import fields, models


class ResCompany(models.Model):
    _inherit = "res.company"

    dingtalk_leave_admin_userid = fields.Char(
        "DingTalk Leave Administrator",
        copy=False,
        groups="hr_holidays.group_hr_holidays_manager,base.group_system",
        help="The DingTalk userid of an administrator with OA rights: DingTalk lists the leave types "
        "(vacation/type/list) only to an administrator.",
    )
