from odoo.addons.ziqi_dingtalk.compat import ODOO_19
from odoo.addons.ziqi_dingtalk_approval.tests.common import EXPENSE, ApprovalCase
from odoo.exceptions import UserError
from odoo.tests import tagged

# Odoo 19 approves each expense; Odoo 18 approves expense reports
DOCUMENT = "hr.expense" if ODOO_19 else "hr.expense.sheet"


@tagged("post_install", "-at_install")
class TestExpenseApproval(ApprovalCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.category = cls.env["product.product"].create(
            {"name": "差旅费", "can_be_expensed": True, "standard_price": 0, "type": "service"}
        )
        form = {"报销事由": "name", "报销金额": "total_amount"}
        if not ODOO_19:  # the report's expenses as the form's table
            form["费用明细"] = ("expense_line_ids", {"项目": "name", "金额": "total_amount"})
        cls.make_rule(
            DOCUMENT,
            EXPENSE,
            form,
            originator_path="employee_id",
            approve_method="_dingtalk_approve_expense",
            refuse_method="_dingtalk_refuse_expense",
        )

    def document(self, employee=None):
        employee = employee or self.originator
        expense = self.env["hr.expense"].create(
            {
                "name": "北京出差高铁票",
                "employee_id": employee.id,
                "product_id": self.category.id,
                "total_amount_currency": 553.5,
            }
        )
        if ODOO_19:
            return expense
        return self.env["hr.expense.sheet"].create(
            {"name": "十一月差旅报销", "employee_id": employee.id, "expense_line_ids": [(6, 0, expense.ids)]}
        )

    def submit(self, document):
        document.action_dingtalk_submit()
        return self.Approval.search([("res_model", "=", DOCUMENT), ("res_id", "=", document.id)], limit=1)

    def test_approved_in_dingtalk_approves_the_expense(self):
        document = self.document()
        approval = self.submit(document)
        form = {v["name"]: v["value"] for v in self.instance(approval)["formComponentValues"]}
        self.assertEqual(form["报销金额"], "553.5")
        self.act(approval, self.approvers[0], "agree", "同意报销")
        self.deliver(self.held_events(approval))
        self.assertEqual((approval.state, approval.flagged), ("approved", False), approval.flag_reason)
        self.assertEqual(document.approval_state, "approved" if ODOO_19 else "approve")
        self.assertTrue(any("同意报销" in note for note in self.chatter(document)))

    def test_refused_in_dingtalk_refuses_the_expense_with_the_approvers_reason(self):
        document = self.document()
        approval = self.submit(document)
        self.act(approval, self.approvers[0], "refuse", "发票不合规")
        self.act(approval, self.originator, "comment", "好的，我重新提交")  # a later remark, not the reason
        self.deliver(self.held_events(approval))
        self.assertEqual(approval.state, "refused")
        self.assertEqual(document.approval_state, "refused" if ODOO_19 else "cancel")
        # Odoo's own refusal message, to the employee, gives the refuser's reason
        comment = self.env.ref("mail.mt_comment")
        refusal = document.message_ids.filtered(lambda m: m.subtype_id == comment).mapped("body")
        self.assertTrue(refusal and "发票不合规" in refusal[0] and "重新提交" not in refusal[0], refusal)

    def test_odoo_approval_gives_way_and_refusing_in_odoo_revokes_dingtalk(self):
        document = self.document()
        approval = self.submit(document)
        approve = document.action_approve if ODOO_19 else document.action_approve_expense_sheets
        with self.assertRaisesRegex(UserError, "approved in DingTalk"):
            approve()
        document._do_refuse("不需要了")
        self.assertEqual(approval.state, "terminated")
        self.assertEqual(self.instance(approval)["status"], "TERMINATED")

    def test_odoos_duplicate_wizard_cannot_approve_either(self):
        document = self.document()
        self.submit(document)
        with self.assertRaisesRegex(UserError, "approved in DingTalk"):
            document._do_approve()

    def test_an_employee_without_dingtalk_account_gets_a_clear_error(self):
        stranger = self.env["hr.employee"].create({"name": "临时工"})
        document = self.document(stranger)
        with self.assertRaisesRegex(UserError, "临时工 has no DingTalk account"):
            document.action_dingtalk_submit()
