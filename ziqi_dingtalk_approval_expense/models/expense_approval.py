from odoo import api, models
from odoo.addons.ziqi_dingtalk_approval.models.ziqi_dingtalk_approval import unlocked


class DingtalkExpenseApproval(models.AbstractModel):
    """What DingTalk's approval does to an expense document (the report on Odoo 18, the expense on 19):
    approving submits it when still a draft and approves it; refusing refuses it with the approver's
    comment; Odoo's own approval gives way while a rule applies; refusing or resetting it in Odoo
    revokes a running DingTalk approval (hr_expense_sheet.py, hr_expense.py)."""

    _name = "ziqi.dingtalk.approval.expense"
    _inherit = "ziqi.dingtalk.approval.mixin"
    _description = "DingTalk Approval (expense)"

    @api.model
    def _dingtalk_approval_hooks(self):
        return [*super()._dingtalk_approval_hooks(), "_dingtalk_approve_expense", "_dingtalk_refuse_expense"]

    def _dingtalk_refuse_expense(self):
        reason = self.env.context.get("dingtalk_approval_remark") or self.env._("Refused in DingTalk")
        unlocked(self)._do_refuse(reason)
