from odoo import models
from odoo.addons.ziqi_dingtalk_approval.models.ziqi_dingtalk_approval import unlocked


class HrExpenseSheet(models.Model):
    _name = "hr.expense.sheet"
    _inherit = ["hr.expense.sheet", "ziqi.dingtalk.approval.expense"]

    def _dingtalk_approve_expense(self):
        sheets = unlocked(self)
        sheets.filtered(lambda sheet: sheet.state == "draft")._do_submit()
        sheets._do_approve()

    def action_approve_expense_sheets(self):
        self._dingtalk_check_not_bypassed()
        return super().action_approve_expense_sheets()

    def action_reset_expense_sheets(self):
        return super(HrExpenseSheet, self._dingtalk_terminate()).action_reset_expense_sheets()

    def _do_refuse(self, reason):
        # refused in Odoo while in approval in DingTalk: revoked there first
        return super(HrExpenseSheet, self._dingtalk_terminate())._do_refuse(reason)
