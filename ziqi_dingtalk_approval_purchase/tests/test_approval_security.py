"""Attacks on DingTalk approvals through the real routes: JSON-RPC as a purchase user, and events signed
with the company's callback keys pushed by the sandbox. Each test fails if a low-privilege user or an
event's own words can approve, unlock or reconfigure anything."""

from odoo import Command
from odoo.addons.ziqi_dingtalk.compat import USER_GROUPS
from odoo.addons.ziqi_dingtalk.dingtalk.crypto import generate_aes_key
from odoo.addons.ziqi_dingtalk_approval.tests.common import PURCHASE, ApprovalCase
from odoo.tests import tagged

TOKEN = "ziqi-approval-token"


@tagged("post_install", "-at_install")
class TestApprovalSecurity(ApprovalCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.aes_key = generate_aes_key()
        cls.configure_company(cls.company, dingtalk_callback_token=TOKEN, dingtalk_aes_key=cls.aes_key)
        cls.rule = cls.make_rule(
            "purchase.order",
            PURCHASE,
            {"采购事由": "name", "采购金额": "amount_total"},
            approve_method="_dingtalk_approve_order",
        )
        cls.buyer = cls.originator.user_id
        cls.buyer.sudo().write(
            {
                "password": "buyer-pass-1",
                USER_GROUPS: [Command.link(cls.env.ref("purchase.group_purchase_user").id)],
            }
        )
        cls.vendor = cls.env["res.partner"].create({"name": "Vendor"})
        cls.product = cls.env["product.product"].create({"name": "纸"})

    def setUp(self):
        super().setUp()
        self.order = self.env["purchase.order"].create(
            {
                "partner_id": self.vendor.id,
                "user_id": self.buyer.id,
                "order_line": [(0, 0, {"product_id": self.product.id, "product_qty": 1, "price_unit": 5})],
            }
        )
        self.env.flush_all()
        self.authenticate(self.buyer.login, "buyer-pass-1")

    def rpc(self, model, method, *args, context=None):
        """Call ``method`` over JSON-RPC as the buyer; returns the error text, or None when it ran."""
        try:
            self.make_jsonrpc_request(
                "/web/dataset/call_kw",
                {"model": model, "method": method, "args": list(args), "kwargs": {"context": context or {}}},
            )
        except Exception as error:
            return str(error)
        return None

    def approval(self):
        return self.Approval.search([("res_model", "=", "purchase.order"), ("res_id", "=", self.order.id)])

    def test_a_buyer_submits_over_json_rpc_but_cannot_unlock_approve_or_reconfigure(self):
        self.assertIsNone(self.rpc("purchase.order", "action_dingtalk_submit", self.order.ids))
        approval = self.approval()
        self.assertEqual(approval.state, "running")
        attacks = [
            (
                "purchase.order",
                "write",
                [self.order.ids, {"partner_ref": "x"}],
                {"dingtalk_approval_bypass": True},
            ),
            ("purchase.order", "button_confirm", [self.order.ids], None),
            ("purchase.order", "button_approve", [self.order.ids], None),
            ("purchase.order", "_dingtalk_approve_order", [self.order.ids], None),
            ("ziqi.dingtalk.approval", "_refresh", [approval.ids], None),
            ("ziqi.dingtalk.approval", "write", [approval.ids, {"state": "approved"}], None),
            ("ziqi.dingtalk.approval", "read", [approval.ids, ["state"]], None),
            ("ziqi.dingtalk.approval.rule", "write", [self.rule.ids, {"approve_method": "unlink"}], None),
            ("ziqi.dingtalk.approval.rule", "create", [{"name": "mine"}], None),
        ]
        for model, method, args, context in attacks:
            with self.subTest(model=model, method=method):
                self.assertIsNotNone(self.rpc(model, method, *args, context=context), f"{method} ran")
        self.assertEqual(
            (approval.state, self.order.state, self.order.partner_ref), ("running", "draft", False)
        )
        self.assertEqual(self.rule.approve_method, "_dingtalk_approve_order")

    def test_a_buyer_cannot_submit_in_someone_elses_name(self):
        other = self.approvers[-1].user_id
        self.order.sudo().user_id = other
        error = self.rpc("purchase.order", "action_dingtalk_submit", self.order.ids)
        self.assertIn("UserError", error or "submitted!")
        self.assertFalse(self.approval())

    def test_who_may_not_change_an_order_cannot_revoke_its_approval(self):
        self.order.sudo().action_dingtalk_submit()
        approval = self.approval()
        clerk = self.env["res.users"].create(
            {
                "name": "Clerk",
                "login": "clerk@example.com",
                "password": "clerk-pass-1",
                USER_GROUPS: [Command.set([self.env.ref("base.group_user").id])],
            }
        )
        self.env.flush_all()
        self.authenticate(clerk.login, "clerk-pass-1")
        self.assertIn("AccessError", self.rpc("purchase.order", "button_cancel", self.order.ids) or "ran")
        self.assertEqual(self.instance(approval)["status"], "RUNNING")
        self.assertEqual(approval.state, "running")

    def test_signed_events_that_say_approved_change_nothing_dingtalk_does_not_confirm(self):
        self.order.action_dingtalk_submit()
        approval = self.approval()
        for event in (
            {"EventType": "bpms_instance_change", "type": "finish", "result": "agree"},
            {"EventType": "bpms_task_change", "type": "finish", "result": "agree", "taskId": 1},
        ):
            self.push(dict(event, processInstanceId=approval.instance_id, processCode=PURCHASE))
        self.assertEqual((approval.state, self.order.state), ("running", "draft"))
        self.assertEqual(
            set(self.env["ziqi.dingtalk.event"].search([]).mapped("state")), {"done"}, "read, found running"
        )

    def push(self, event):
        self.push_signed(event, TOKEN, self.aes_key)
