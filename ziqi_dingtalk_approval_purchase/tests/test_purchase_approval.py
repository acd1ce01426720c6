import json

from odoo.addons.ziqi_dingtalk_approval.tests.common import PURCHASE, ApprovalCase
from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.tests import tagged


@tagged("post_install", "-at_install")
class TestPurchaseApproval(ApprovalCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.vendor = cls.env["res.partner"].create({"name": "上海五金有限公司"})
        cls.product = cls.env["product.product"].create({"name": "螺丝刀", "standard_price": 12.5})
        cls.template = cls.Template.search(
            [("process_code", "=", PURCHASE), ("company_id", "=", cls.company.id)]
        )
        cls.rule = cls.make_rule(
            "purchase.order",
            PURCHASE,
            {
                "采购事由": "name",
                "供应商": "partner_id.name",
                "采购金额": "amount_total",
                "期望交付日期": "date_planned",
                "采购明细": (
                    "order_line",
                    {
                        "物品名称": "name",
                        "数量": "product_qty",
                        "单价": "price_unit",
                        "小计": "price_subtotal",
                    },
                ),
            },
            originator_path="user_id",
            approve_method="_dingtalk_approve_order",
            refuse_method="button_cancel",
        )

    def order(self, qty=4, user=None):
        return self.env["purchase.order"].create(
            {
                "partner_id": self.vendor.id,
                "user_id": (user or self.originator.user_id).id,
                "order_line": [
                    (0, 0, {"product_id": self.product.id, "product_qty": qty, "price_unit": 12.5})
                ],
            }
        )

    def submit(self, order):
        order.action_dingtalk_submit()
        approval = self.Approval.search(
            [("res_model", "=", "purchase.order"), ("res_id", "=", order.id)], limit=1
        )
        self.assertEqual(approval.state, "running")
        return approval

    # --- the whole way ---

    def test_submitted_then_approved_in_dingtalk_confirms_the_order(self):
        order = self.order()
        self.assertTrue(order.dingtalk_approval_can_submit)
        approval = self.submit(order)
        instance = self.instance(approval)
        form = {value["name"]: value["value"] for value in instance["formComponentValues"]}
        self.assertEqual(form["供应商"], "上海五金有限公司")
        self.assertEqual(form["采购金额"], f"{order.amount_total:g}")  # 4 × 12.5 and the product's tax
        rows = json.loads(form["采购明细"])
        self.assertEqual({c["name"]: c["value"] for c in rows[0]}["数量"], "4")
        self.assertEqual(instance["originatorUserId"], self.originator.dingtalk_userid)
        self.assertEqual(order.dingtalk_approval_state, "running")
        self.assertIn(approval.instance_id, order.dingtalk_approval_url)

        events = self.act(approval, self.approvers[0], "agree", "同意采购")
        self.deliver(self.held_events(approval))
        self.assertEqual(order.state, "purchase")
        self.assertEqual((approval.state, approval.applied, approval.flagged), ("approved", True, False))
        notes = self.chatter(order)
        self.assertTrue(
            any(f"{self.approvers[0].name} approved in DingTalk: 同意采购" in n for n in notes), notes
        )
        self.assertIn("Approved in DingTalk.", notes)

        self.deliver(events)  # the same events again, and their retries: nothing happens twice
        self.deliver([dict(e, eventId=e["eventId"] + "-retry") for e in events])
        self.assertEqual(self.chatter(order).count("Approved in DingTalk."), 1)
        self.assertEqual(len([n for n in self.chatter(order) if "同意采购" in n]), 1)

    def test_refused_in_dingtalk_cancels_the_order_and_it_can_be_submitted_again(self):
        order = self.order()
        approval = self.submit(order)
        self.act(approval, self.approvers[0], "refuse", "预算不足")
        self.deliver(self.held_events(approval))
        self.assertEqual(approval.state, "refused")
        self.assertEqual(order.state, "cancel")
        self.assertTrue(any("refused in DingTalk: 预算不足" in n for n in self.chatter(order)))

        order.button_draft()
        again = self.submit(order)
        self.assertNotEqual(again.instance_id, approval.instance_id, "a new DingTalk instance")

    def test_cancelling_in_odoo_revokes_the_dingtalk_approval(self):
        order = self.order()
        approval = self.submit(order)
        order.button_cancel()
        self.assertEqual(order.state, "cancel")
        self.assertEqual(self.instance(approval)["status"], "TERMINATED")
        self.assertEqual(approval.state, "terminated")
        self.deliver(self.held_events(approval))  # DingTalk's terminate event changes nothing more
        self.assertEqual((approval.state, order.state), ("terminated", "cancel"))

    def test_multi_step_approval_posts_each_action_and_comment_once_whatever_the_event_order(self):
        first, second, third, fourth, fifth = self.approvers[:5]
        self.set_flow(PURCHASE, [first, ("AND", [second, third]), ("OR", [fourth, fifth])])
        order = self.order()
        approval = self.submit(order)
        self.act(approval, first, "agree", "第一步同意")
        self.act(approval, fifth, "comment", "请尽快交付")
        self.act(approval, second, "agree")
        self.deliver(self.held_events(approval)[:2])  # part of the way: DingTalk says it is still running
        self.assertEqual((approval.state, order.state), ("running", "draft"))
        self.act(approval, third, "agree")
        self.act(approval, fourth, "agree", "最终同意")
        events = self.held_events(approval)
        self.deliver(list(reversed(events)) + events)  # out of order, and each twice
        self.assertEqual((approval.state, order.state), ("approved", "purchase"))
        notes = self.chatter(order)
        for text in ("第一步同意", "请尽快交付", "最终同意"):
            self.assertEqual(len([n for n in notes if text in n]), 1, text)
        self.assertEqual(len([n for n in notes if "approved in DingTalk" in n]), 4, notes)
        self.assertEqual(notes.count("Approved in DingTalk."), 1)

    def test_a_forged_event_cannot_approve_anything(self):
        order = self.order()
        approval = self.submit(order)
        forged = {
            "EventType": "bpms_instance_change",
            "eventId": "forged-1",
            "processInstanceId": approval.instance_id,
            "processCode": PURCHASE,
            "type": "finish",
            "result": "agree",
            "staffId": self.originator.dingtalk_userid,
        }
        self.deliver([forged, dict(forged, EventType="bpms_task_change", eventId="forged-2")])
        self.assertEqual((approval.state, order.state), ("running", "draft"), "DingTalk still says running")

    def test_an_originator_without_dingtalk_account_gets_a_clear_error(self):
        stranger = self.env["res.users"].create({"name": "No DingTalk", "login": "no-dingtalk@example.com"})
        order = self.order(user=stranger)
        with self.assertRaisesRegex(UserError, "No DingTalk has no DingTalk account"):
            order.action_dingtalk_submit()
        self.assertFalse(
            self.Approval.search([("res_model", "=", "purchase.order"), ("res_id", "=", order.id)])
        )

    def test_a_required_dingtalk_field_the_rule_leaves_out_is_named(self):
        self.rule.line_ids.filtered(lambda line: line.template_field_id.label == "采购金额").unlink()
        with self.assertRaisesRegex(UserError, "fills nothing into 采购金额"):
            self.order().action_dingtalk_submit()
        self.assertFalse(self.sandbox.control("approval/instances")["instances"] and self.Approval.search([]))

    def test_a_missed_event_is_caught_up_by_the_check_of_running_approvals(self):
        order = self.order()
        approval = self.submit(order)
        self.act(approval, self.approvers[0], "agree")  # its events never arrive
        self.Approval._cron_reconcile()
        self.assertEqual(approval.state, "running", "read less than 6 hours ago: not read again yet")
        approval.sudo().refreshed_at = "2020-01-01 00:00:00"
        self.Approval._cron_reconcile()
        self.assertEqual((approval.state, order.state), ("approved", "purchase"))

    def test_an_event_of_an_approval_odoo_did_not_start_is_skipped(self):
        Event = self.env["ziqi.dingtalk.event"]
        self.deliver([{"EventType": "bpms_instance_change", "eventId": "leave-1", "processInstanceId": "x"}])
        other = Event.search([("event_key", "=", "leave-1")])
        self.assertEqual((other.state, other.result), ("skipped", "not an approval started by Odoo"))
        # of a template Odoo submits to: maybe the submission is not committed yet, tried again once
        self.deliver(
            [
                {
                    "EventType": "bpms_instance_change",
                    "eventId": "ours-1",
                    "processInstanceId": "y",
                    "processCode": PURCHASE,
                }
            ]
        )
        ours = Event.search([("event_key", "=", "ours-1")])
        self.assertEqual((ours.state, ours.attempts), ("pending", 1))
        ours.sudo().next_attempt_at = "2020-01-01 00:00:00"
        Event._cron_process()
        self.assertEqual((ours.state, ours.result), ("skipped", "not an approval started by Odoo"))

    # --- while in approval ---

    def test_the_order_is_locked_while_in_approval(self):
        order = self.order()
        self.submit(order)
        with self.assertRaisesRegex(UserError, "in approval in DingTalk"):
            order.write({"partner_ref": "changed"})
        with self.assertRaisesRegex(
            UserError, "in approval in DingTalk"
        ):  # a JSON-RPC context cannot unlock it
            order.with_context(dingtalk_approval_bypass=True).write({"partner_ref": "changed"})
        with self.assertRaisesRegex(UserError, "approved in DingTalk"):
            order.button_confirm()
        order.message_post(body="still a chatter")
        with self.assertRaisesRegex(UserError, "already in approval"):
            order.action_dingtalk_submit()

    def test_the_lines_the_currency_and_the_order_itself_are_locked_too(self):
        order = self.order()
        self.submit(order)
        usd = (
            self.env.ref("base.USD")
            if order.currency_id != self.env.ref("base.USD")
            else self.env.ref("base.EUR")
        )
        attempts = {
            "currency": lambda: order.write({"currency_id": usd.id}),
            "line write": lambda: order.order_line.write({"product_qty": 400}),
            "line create": lambda: self.env["purchase.order.line"].create(
                {"order_id": order.id, "product_id": self.product.id, "product_qty": 1}
            ),
            "line unlink": lambda: order.order_line.unlink(),
            "unlink": lambda: order.unlink(),
        }
        for name, attempt in attempts.items():
            with self.subTest(name), self.assertRaisesRegex(UserError, "in approval in DingTalk"):
                attempt()
        order.write({"state": "sent"})  # "Send by email" of an RFQ in approval
        order._portal_ensure_token()
        order.write({"partner_id": self.vendor.id})  # written again as it is: no change

    def test_an_order_reaching_the_rules_state_is_submitted_by_itself(self):
        self.rule.submit_state = "sent"
        order = self.order()
        order.write({"state": "sent"})  # "Send by email"
        self.assertEqual(order.dingtalk_approval_state, "running")
        self.assertEqual(self.instance(order._dingtalk_running_approval())["status"], "RUNNING")

    def test_a_confirmed_order_is_not_submitted(self):
        self.rule.domain = "[('amount_total', '>', 1000)]"
        order = self.order()
        order.button_confirm()
        self.rule.domain = "[]"
        order.invalidate_recordset()
        self.assertFalse(order.dingtalk_approval_can_submit)
        with self.assertRaisesRegex(UserError, "cannot be submitted"):
            order.action_dingtalk_submit()

    def test_a_form_filled_in_chinese_and_beijing_time_is_not_flagged_when_the_cron_applies_it(self):
        self.env["res.lang"]._activate_lang("zh_CN")
        order = self.order()
        order.date_planned = "2026-12-01 17:30:00"  # 01:30 on the 2nd in Beijing
        self.submit(order.with_context(lang="zh_CN", tz="Asia/Shanghai"))
        approval = self.Approval.search([("res_model", "=", "purchase.order"), ("res_id", "=", order.id)])
        form = {v["name"]: v["value"] for v in self.instance(approval)["formComponentValues"]}
        self.assertEqual(form["期望交付日期"], "2026-12-02")
        self.act(approval, self.approvers[0], "agree")
        self.deliver(self.held_events(approval))  # the cron: no language, no time zone of its own
        self.assertEqual((approval.flagged, order.state), (False, "purchase"), approval.flag_reason)

    def test_admins_read_templates_and_approvals_from_the_web_client(self):
        admin = self.env.ref("base.user_admin")
        order = self.order()
        approval = self.submit(order)
        self.act(approval, self.approvers[0], "agree")
        approval.with_user(admin).action_refresh()  # the button on the approval: applies the result
        self.assertEqual((approval.state, order.state), ("approved", "purchase"))
        self.Template.with_user(admin).action_refresh()
        buyer = self.originator.user_id
        with self.assertRaises(AccessError):
            self.Template.with_user(buyer).action_refresh()

    def test_a_result_for_a_changed_order_is_flagged_not_applied(self):
        order = self.order()
        approval = self.submit(order)
        self.vendor.name = "另一家公司"  # not the order (locked): the form the approvers saw differs now
        self.act(approval, self.approvers[0], "agree")
        self.deliver(self.held_events(approval))
        self.assertEqual((approval.state, approval.applied, approval.flagged), ("approved", False, True))
        self.assertEqual(order.state, "draft")
        self.assertTrue(order.dingtalk_approval_flagged)
        self.assertTrue(any("not applied" in n for n in self.chatter(order)))
        approval.with_user(self.env.ref("base.user_admin")).action_apply_result()  # checked by a person
        self.assertEqual((approval.applied, approval.flagged, order.state), (True, False, "purchase"))

    def test_odoo_double_validation_gives_way_to_dingtalk(self):
        self.company.write({"po_double_validation": "two_step", "po_double_validation_amount": 1})
        order = self.order()
        approval = self.submit(order)
        self.act(approval, self.approvers[0], "agree")
        self.deliver(self.held_events(approval))
        self.assertEqual(order.state, "purchase")

    def test_orders_no_rule_applies_to_keep_odoo_buttons(self):
        self.rule.domain = "[('amount_total', '>', 1000)]"
        order = self.order()
        self.assertFalse(order.dingtalk_approval_can_submit)
        order.button_confirm()
        self.assertEqual(order.state, "purchase")

    # --- rules ---

    def test_rules_refuse_what_cannot_work(self):
        fields = {f.label: f for f in self.template.field_ids}
        with self.assertRaisesRegex(ValidationError, "attach files"):
            self.rule.line_ids = [(0, 0, {"template_field_id": fields["附件"].id, "source_path": "name"})]
        with self.assertRaisesRegex(ValidationError, "no field"):
            self.rule.line_ids = [(0, 0, {"template_field_id": fields["紧急程度"].id, "source_path": "nope"})]
        with self.assertRaisesRegex(ValidationError, "lines field"):
            self.rule.line_ids = [
                (0, 0, {"template_field_id": fields["紧急程度"].id, "source_path": "order_line"})
            ]
        with self.assertRaisesRegex(ValidationError, "no method"):
            self.rule.approve_method = "_create_picking"  # private and not a listed hook
        with self.assertRaisesRegex(ValidationError, "user or an employee"):
            self.rule.originator_path = "partner_id"
        with self.assertRaisesRegex(ValidationError, "not valid"):
            self.rule.domain = "[('nope', '=', 1)]"

    def test_templates_are_read_with_their_forms(self):
        templates = self.Template.with_context(active_test=False).search(
            [("company_id", "=", self.company.id)]
        )
        self.assertIn("INVALID", templates.mapped("status"))
        table = self.template.field_ids.filtered(lambda f: f.label == "采购明细")
        self.assertEqual(table.component_type, "TableField")
        self.assertEqual(set(table.child_ids.mapped("label")), {"物品名称", "数量", "单价", "小计"})
        self.Template._refresh_company(self.company)  # again: the same records, rules keep their mapping
        self.assertEqual(self.rule.line_ids.template_field_id.exists(), self.rule.line_ids.template_field_id)
