from odoo.tests import tagged

from .common import DingTalkHttpCase

SETTINGS_URL = "/odoo/action-base_setup.action_general_configuration"


@tagged("post_install", "-at_install")
class TestSettingsTour(DingTalkHttpCase):
    def test_settings_page_english(self):
        self.start_tour(SETTINGS_URL, "ziqi_dingtalk_settings", login="admin")
        self.assertRegex(self.env.company.sudo().dingtalk_aes_key, r"^[A-Za-z0-9]{43}$")
        self.assertEqual(self.env.company.dingtalk_alert_userid, "manager4521")

    def test_settings_page_chinese(self):
        self.env["res.lang"]._activate_lang("zh_CN")
        modules = ["base", "web", "base_setup", "ziqi_dingtalk"]
        self.env["ir.module.module"]._load_module_terms(modules, ["zh_CN"])
        self.env.ref("base.user_admin").lang = "zh_CN"
        self.start_tour(SETTINGS_URL, "ziqi_dingtalk_settings_zh", login="admin")

    def test_console_views_english_and_chinese(self):
        action = "/odoo/action-ziqi_dingtalk.action_ziqi_dingtalk_sync_run"
        self.start_tour(action, "ziqi_dingtalk_console_views_en", login="admin")
        self.env["res.lang"]._activate_lang("zh_CN")
        self.env["ir.module.module"]._load_module_terms(["base", "web", "ziqi_dingtalk"], ["zh_CN"])
        self.env.ref("base.user_admin").lang = "zh_CN"
        self.start_tour(action, "ziqi_dingtalk_console_views_zh", login="admin")
