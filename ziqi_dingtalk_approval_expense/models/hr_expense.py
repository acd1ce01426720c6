from odoo import models
from odoo.addons.ziqi_dingtalk_approval.models.ziqi_dingtalk_approval import unlocked


class HrExpense(models.Model):
    """Odoo 19: each expense is approved (a draft or submitted one); Odoo writes its approval_state, from
    which its state is computed."""

    _name = "hr.expense"
    _inherit = ["hr.expense", "ziqi.dingtalk.approval.expense"]
    _dingtalk_state_field = "approval_state"

    def _dingtalk_submittable(self):
        return self.state in ("draft", "submitted")

    def _dingtalk_approve_expense(self):
        expenses = unlocked(self)
        expenses.filtered(lambda expense: expense.state == "draft").approval_state = "submitted"
        expenses._do_approve(check=False)

    def _do_approve(self, check=True):
        # every way Odoo approves an expense (its button, the duplicates wizard, auto-validation on submit)
        # gives way to DingTalk
        self._dingtalk_check_not_bypassed()
        return super()._do_approve(check=check)

    def action_reset(self):
        return self._dingtalk_revoking(lambda expenses: super(HrExpense, expenses).action_reset())

    def _do_refuse(self, reason):
        # refused in Odoo while in approval in DingTalk: revoked there too
        return self._dingtalk_revoking(lambda expenses: super(HrExpense, expenses)._do_refuse(reason))
