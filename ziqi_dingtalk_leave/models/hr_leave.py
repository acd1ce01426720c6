from odoo import api, fields, models
from odoo.exceptions import AccessError

# the import's own context key: its value is an object of this module, which no RPC call can send
IMPORT_TOKEN = ("ziqi_dingtalk_leave_import", object())
# while the import writes DingTalk's dates and duration over Odoo's own count, the allocation check waits
# for DingTalk's numbers (the import runs it last)
DEFER_CHECK = "ziqi_dingtalk_leave_defer_check"


class HrLeave(models.Model):
    _inherit = "hr.leave"

    dingtalk_leave_id = fields.Many2one(
        "ziqi.dingtalk.leave",
        "DingTalk Leave",
        readonly=True,
        copy=False,
        index="btree_not_null",
        ondelete="set null",
        groups="hr_holidays.group_hr_holidays_user",
        help="The leave approved in DingTalk this time off was imported from.",
    )

    @api.model_create_multi
    def create(self, vals_list):
        if any("dingtalk_leave_id" in vals for vals in vals_list):
            self._check_dingtalk_binding()
        return super().create(vals_list)

    def write(self, vals):
        if "dingtalk_leave_id" in vals:
            self._check_dingtalk_binding()
        return super().write(vals)

    def _check_validity(self):
        if self.env.context.get(DEFER_CHECK) is IMPORT_TOKEN[1]:
            return None
        return super()._check_validity()

    def _check_dingtalk_binding(self):
        """Only the import binds a time off to a DingTalk leave (or sudo code that knows what it does)."""
        key, token = IMPORT_TOKEN
        if self.env.su or self.env.context.get(key) is token:
            return
        raise AccessError(self.env._("Only the DingTalk import may link a time off to a DingTalk leave."))
