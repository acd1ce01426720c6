import json

from odoo.addons.ziqi_dingtalk.compat import USER_GROUPS
from odoo.addons.ziqi_dingtalk_approval.tests.common import PURCHASE, ApprovalCase
from odoo.tests import tagged

# the modules whose Chinese the tours' pages show
ZH_MODULES = [
    "base",
    "web",
    "mail",
    "purchase",
    "ziqi_dingtalk",
    "ziqi_dingtalk_approval",
    "ziqi_dingtalk_approval_purchase",
]
RULE_NAME = "钉钉采购审批 DingTalk purchases"  # typed by the rule tour
LONG_AGO = "2001-02-03 12:00:00"
DOCUMENT_URL = "/odoo/action-purchase.purchase_rfq/%s"


@tagged("post_install", "-at_install")
class TestApprovalTours(ApprovalCase):
    """The approval screens in a browser, in English and in Chinese: an admin sets up a rule, a purchase
    user submits an order. The tours find things by name and xmlid; the few texts that depend on the
    language are given to them here (``window.ziqiApprovalTour``)."""

    tour_params = None

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.template = cls.Template.search(
            [("process_code", "=", PURCHASE), ("company_id", "=", cls.company.id)]
        )
        cls.vendor = cls.env["res.partner"].create({"name": "上海五金有限公司"})
        cls.product = cls.env["product.product"].create({"name": "螺丝刀", "standard_price": 12.5})

    def browser_js(self, url_path, code, *args, **kwargs):
        """Hand the tour its texts: set before ``odoo.startTour``, which reads the tour's steps."""
        if self.tour_params is not None:
            code = f"window.ziqiApprovalTour = {json.dumps(self.tour_params)}; {code}"
        return super().browser_js(url_path, code, *args, **kwargs)

    def use_language(self, lang, user):
        if lang != "en_US":
            self.env["res.lang"]._activate_lang(lang)
            self.env["ir.module.module"]._load_module_terms(ZH_MODULES, [lang])
        user.lang = lang

    # --- an admin sets up a rule ---

    def prepare_rule_tour(self, lang):
        admin = self.env.ref("base.user_admin")
        self.use_language(lang, admin)
        self.template.refreshed_at = LONG_AGO  # the tour reads the templates again
        env = self.env(context=dict(self.env.context, lang=lang))
        self.tour_params = {
            "app": env.ref("ziqi_dingtalk.menu_dingtalk_root").name,
            "model": env["ir.model"]._get("purchase.order").name,
        }

    def check_rule_tour(self):
        self.env.invalidate_all()
        self.assertGreater(self.template.refreshed_at.year, 2001, "read again from DingTalk")
        rule = self.env["ziqi.dingtalk.approval.rule"].search([("name", "=", RULE_NAME)])
        self.assertEqual(len(rule), 1)
        self.assertEqual(
            (rule.model_name, rule.template_id, rule.originator_path, rule.company_id),
            ("purchase.order", self.template, "user_id", self.company),
        )
        self.assertEqual(
            rule.line_ids.mapped(lambda line: (line.template_field_id.label, line.source_path)),
            [("供应商", "partner_id.name")],
        )
        self.assertEqual(
            (rule.approve_method, rule.refuse_method, rule.terminate_method),
            ("_dingtalk_approve_order", "button_cancel", False),
        )

    def test_rule_tour_english(self):
        self.prepare_rule_tour("en_US")
        self.start_tour("/odoo", "ziqi_dingtalk_approval_rule", login="admin")
        self.check_rule_tour()

    def test_rule_tour_chinese(self):
        self.prepare_rule_tour("zh_CN")
        self.start_tour("/odoo", "ziqi_dingtalk_approval_rule", login="admin")
        self.check_rule_tour()

    # --- a purchase user submits an order ---

    def prepare_document_tour(self, lang):
        """An RFQ of the originator's, a rule applying to it; returns the order."""
        self.make_rule(
            "purchase.order",
            PURCHASE,
            {"采购事由": "name", "供应商": "partner_id.name", "采购金额": "amount_total"},
            approve_method="_dingtalk_approve_order",
            refuse_method="button_cancel",
        )
        # the order's user: an employee synced from DingTalk, a purchase user signing in with a password
        user = self.originator.user_id
        user.write(
            {USER_GROUPS: [(4, self.env.ref("purchase.group_purchase_user").id)], "password": user.login}
        )
        self.use_language(lang, user)
        order = self.env["purchase.order"].create(
            {
                "partner_id": self.vendor.id,
                "user_id": user.id,
                "order_line": [(0, 0, {"product_id": self.product.id, "product_qty": 4, "price_unit": 12.5})],
            }
        )
        self.assertTrue(order.dingtalk_approval_can_submit)
        env = self.env(context=dict(self.env.context, lang=lang))
        states = dict(order._fields["state"]._description_selection(env))
        self.tour_params = {"state": states["draft"]}
        return order

    def check_document_tour(self, order):
        self.env.invalidate_all()
        user = self.originator.user_id
        approval = self.Approval.search([("res_model", "=", "purchase.order"), ("res_id", "=", order.id)])
        self.assertEqual(len(approval), 1)
        self.assertEqual(approval.state, "running")
        self.assertEqual(approval.create_uid, user, "submitted by the order's user")
        self.assertEqual(order.dingtalk_approval_state, "running")
        self.assertEqual(order.state, "draft", "still an RFQ until DingTalk approves")
        instance = self.instance(approval)
        self.assertEqual(instance["status"], "RUNNING")
        self.assertEqual(instance["originatorUserId"], self.originator.dingtalk_userid)
        form = {value["name"]: value["value"] for value in instance["formComponentValues"]}
        self.assertEqual(form["供应商"], "上海五金有限公司")

    def test_document_tour_english(self):
        order = self.prepare_document_tour("en_US")
        self.start_tour(DOCUMENT_URL % order.id, "ziqi_dingtalk_approval_document", login=order.user_id.login)
        self.check_document_tour(order)

    def test_document_tour_chinese(self):
        order = self.prepare_document_tour("zh_CN")
        self.start_tour(DOCUMENT_URL % order.id, "ziqi_dingtalk_approval_document", login=order.user_id.login)
        self.check_document_tour(order)
