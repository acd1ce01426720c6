from odoo.exceptions import ValidationError
from odoo.tests import tagged

from .common import PURCHASE, ApprovalCase


@tagged("post_install", "-at_install")
class TestTemplates(ApprovalCase):
    """What the approval addon does without any approvable document: DingTalk's templates, the rules'
    checks, and the inbox's approval events."""

    def test_templates_are_read_with_their_forms_and_statuses(self):
        templates = self.Template.with_context(active_test=False).search(
            [("company_id", "=", self.company.id)]
        )
        by_code = {template.process_code: template for template in templates}
        self.assertEqual(by_code[PURCHASE].status, "PUBLISHED")
        self.assertIn("INVALID", templates.mapped("status"))
        table = by_code[PURCHASE].field_ids.filtered(lambda field: field.component_type == "TableField")
        self.assertTrue(table.child_ids and all(child.parent_id == table for child in table.child_ids))

    def test_a_template_dingtalk_renames_keeps_its_fields_and_one_it_no_longer_lists_is_archived(self):
        template = self.Template.search(
            [("process_code", "=", PURCHASE), ("company_id", "=", self.company.id)]
        )
        fields_before = template.field_ids
        self.sandbox.control("approval/templates", {"process_code": PURCHASE, "name": "采购申请"})
        self.sandbox.control(
            "approval/templates", {"process_code": "PROC-SANDBOX-EXTRA", "name": "临时模板", "components": []}
        )
        self.Template._refresh_company(self.company)
        self.assertEqual((template.name, template.field_ids), ("采购申请", fields_before))
        extra = self.Template.search([("process_code", "=", "PROC-SANDBOX-EXTRA")])
        self.assertTrue(extra)
        self.sandbox.control("reset", {"users": 40, "departments": 8, "roles": 4, "seed": 7})
        self.Template._refresh_company(self.company)
        self.assertFalse(extra.active, "no longer listed by DingTalk")

    def test_a_rule_needs_a_model_that_supports_approval(self):
        template = self.Template.search(
            [("process_code", "=", PURCHASE), ("company_id", "=", self.company.id)]
        )
        with self.assertRaisesRegex(ValidationError, "does not support DingTalk approval"):
            self.env["ziqi.dingtalk.approval.rule"].create(
                {
                    "name": "x",
                    "model_id": self.env["ir.model"]._get_id("res.partner"),
                    "template_id": template.id,
                }
            )

    def test_an_approval_event_without_an_instance_is_skipped(self):
        self.deliver([{"EventType": "bpms_task_change", "eventId": "no-instance"}])
        event = self.env["ziqi.dingtalk.event"].search([("event_key", "=", "no-instance")])
        self.assertEqual((event.state, event.result), ("skipped", "no processInstanceId"))
