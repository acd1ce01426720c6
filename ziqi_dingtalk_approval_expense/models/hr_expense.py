from odoo import models
from odoo.addons.ziqi_dingtalk_approval.models.ziqi_dingtalk_approval import unlocked


class HrExpense(models.Model):
    _name = "hr.expense"
    _inherit = ["hr.expense", "ziqi.dingtalk.approval.expense"]

    def _dingtalk_approve_expense(self):
        expenses = unlocked(self)
        expenses.filtered(lambda expense: expense.state == "draft").approval_state = "submitted"
        expenses._do_approve(check=False)

    def action_approve(self):
        self._dingtalk_check_not_bypassed()
        return super().action_approve()

    def action_reset(self):
        return super(HrExpense, self._dingtalk_terminate()).action_reset()

    def _do_refuse(self, reason):
        # refused in Odoo while in approval in DingTalk: revoked there first
        return super(HrExpense, self._dingtalk_terminate())._do_refuse(reason)
