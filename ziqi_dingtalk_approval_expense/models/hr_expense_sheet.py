from odoo import models
from odoo.addons.ziqi_dingtalk_approval.models.ziqi_dingtalk_approval import bypassing, unlocked


class HrExpenseSheet(models.Model):
    """Odoo 18: the expense report is what DingTalk approves (a draft or submitted report); its expenses
    are locked with it."""

    _name = "hr.expense.sheet"
    _inherit = ["hr.expense.sheet", "ziqi.dingtalk.approval.expense"]
    _dingtalk_state_field = "approval_state"  # the state is computed from it

    def _dingtalk_submittable(self):
        return self.state in ("draft", "submit")

    def _dingtalk_approve_expense(self):
        sheets = unlocked(self)
        sheets.filtered(lambda sheet: sheet.state == "draft")._do_submit()
        sheets._do_approve()

    def _do_approve(self):
        # every way Odoo approves a report (its button, the duplicates wizard) gives way to DingTalk
        self._dingtalk_check_not_bypassed()
        return super()._do_approve()

    def action_reset_expense_sheets(self):
        return self._dingtalk_revoking(
            lambda sheets: super(HrExpenseSheet, sheets).action_reset_expense_sheets()
        )

    def _do_refuse(self, reason):
        # refused in Odoo while in approval in DingTalk: revoked there too
        return self._dingtalk_revoking(lambda sheets: super(HrExpenseSheet, sheets)._do_refuse(reason))


class HrExpense(models.Model):
    _inherit = "hr.expense"

    def write(self, vals):
        if not bypassing(self) and set(vals) & {"sheet_id", "total_amount_currency", "total_amount", "name"}:
            sheets = self.sheet_id | self.env["hr.expense.sheet"].browse(vals.get("sheet_id") or [])
            sheets._dingtalk_check_unlocked()
        return super().write(vals)

    def unlink(self):
        if not bypassing(self):
            self.sheet_id._dingtalk_check_unlocked()
        return super().unlink()
