from odoo.exceptions import AccessError, ValidationError
from odoo.modules.neutralize import neutralize_database
from odoo.tests import TransactionCase, tagged

from ..compat import USER_GROUPS
from ..dingtalk import client as dt_client
from ..dingtalk.directory import FetchError
from .common import SANDBOX_APP, DingTalkCase

TOKEN = "/v1.0/oauth2/accessToken"
DEPT_GET = "/topapi/v2/department/get"
# 60020 as DingTalk words it [KB:API/1447-obtain-jsapi-ticket]
IP_ERRMSG = (
    "请参考FAQ：https://open-doc.dingtalk.com/microapp/faquestions/cvbtph。"
    "错误原因：访问ip不在白名单之中,request ip=203.119.196.81 appKey(dingsandboxappkey0001)"
)


@tagged("post_install", "-at_install")
class TestSettings(DingTalkCase):
    def _settings(self, **vals):
        return self.env["res.config.settings"].create(vals)

    def _test_connection(self):
        return self._settings().action_dingtalk_test_connection()["params"]

    def test_settings_are_stored_per_company(self):
        other = self.env["res.company"].create({"name": "钉钉分公司"})
        self._settings(dingtalk_app_key="key-main", dingtalk_aes_key="A" * 43).execute()
        self.env["res.config.settings"].with_company(other).create(
            {"dingtalk_app_key": "key-other"}
        ).execute()
        self.assertEqual(self.company.dingtalk_app_key, "key-main")
        self.assertEqual(other.dingtalk_app_key, "key-other")
        self.assertFalse(other.sudo().dingtalk_aes_key)
        self.assertEqual(other.dingtalk_oapi_url, "https://oapi.dingtalk.com")
        self.assertEqual(other.dingtalk_callback_receiver, "app_key")

    def test_aes_key_must_be_43_letters_or_digits(self):
        for bad in ("A" * 42, "A" * 44, "A" * 42 + "=", "中" * 43, "A" * 42 + " "):
            with self.subTest(key=bad), self.assertRaises(ValidationError):
                self.company.sudo().dingtalk_aes_key = bad
                self.company.flush_recordset()
        self.company.sudo().dingtalk_aes_key = "4g5j64qlyl3zvetqxz5jiocdr586fn2zvjpa8zls3ij"

    def test_generate_aes_key(self):
        self.company.sudo().dingtalk_aes_key = "4g5j64qlyl3zvetqxz5jiocdr586fn2zvjpa8zls3ij"
        action = self._settings().action_dingtalk_generate_aes_key()
        key = self.company.sudo().dingtalk_aes_key
        self.assertRegex(key, r"^[A-Za-z0-9]{43}$")
        self.assertNotEqual(key, "4g5j64qlyl3zvetqxz5jiocdr586fn2zvjpa8zls3ij")
        self.assertEqual(action["params"]["next"]["tag"], "soft_reload")

    def test_urls_are_validated(self):
        with self.assertRaises(ValidationError):
            self._settings(dingtalk_oapi_url="oapi.dingtalk.com")

    def test_secrets_are_for_system_admins_only(self):
        hr_manager = self.env["res.users"].create(
            {
                "name": "HR 经理",
                "login": "hr_manager_dt",
                USER_GROUPS: [(6, 0, [self.env.ref("hr.group_hr_manager").id])],
            }
        )
        company = self.company.with_user(hr_manager)
        self.assertEqual(company.dingtalk_app_key, SANDBOX_APP["app_key"])
        for secret in ("dingtalk_app_secret", "dingtalk_callback_token", "dingtalk_aes_key"):
            with self.subTest(field=secret), self.assertRaises(AccessError):
                company.read([secret])

    def test_test_connection_succeeds_and_caches_the_token(self):
        self.sandbox.control("stats/reset", {})
        params = self._test_connection()
        self.assertEqual(params["type"], "success", params["message"])
        calls = self.sandbox.stats()
        self.assertEqual(calls.get(TOKEN), 1, "the v1.0 token, exempt from the monthly quota")
        self.assertNotIn("/gettoken", calls)
        self.assertEqual(calls.get("/topapi/v2/department/get"), 1)
        with self.env.registry.cursor() as cr:
            cr.execute(
                "SELECT expires_at FROM ziqi_dingtalk_token WHERE app_key = %s", [SANDBOX_APP["app_key"]]
            )
            self.assertTrue(cr.fetchone(), "the token is cached in the database for every worker")

    def test_test_connection_names_the_fix(self):
        self.company.sudo().dingtalk_app_secret = "wrong-secret"
        params = self._test_connection()
        self.assertEqual(params["type"], "danger")
        self.assertIn("AppKey and AppSecret", params["message"])
        self.company.sudo().dingtalk_app_secret = SANDBOX_APP["app_secret"]
        for errcode, words in ((60020, "whitelist"), (60011, "permission")):
            with self.subTest(errcode=errcode):
                self.sandbox_fault("/topapi/v2/department/get", errcode=errcode, count=1)
                params = self._test_connection()
                self.assertEqual(params["type"], "danger")
                self.assertIn(words, params["message"])
                self.assertIn(str(errcode), params["message"])

    def test_test_connection_explains_whitelist_quota_and_paging(self):
        """Each error as DingTalk answers it (sandbox faults), in plain words naming the fix."""
        cases = [
            (DEPT_GET, {"errcode": 60020, "errmsg": IP_ERRMSG}, ["add 203.119.196.81 to", "60020"]),
            (
                DEPT_GET,
                {"errcode": 88, "sub_code": 60020, "sub_msg": "访问ip不在白名单之中,request ip=198.51.100.4"},
                ["add 198.51.100.4 to", "88/60020"],
            ),
            (
                TOKEN,
                {
                    "http_status": 403,
                    "code": "Forbidden.AccessDenied.IpNotInWhiteList",
                    "message": "访问ip不在白名单之中,request ip=2001:db8::7 appKey(dingsandboxappkey0001)",
                },
                ["add 2001:db8::7 to", "IpNotInWhiteList"],
            ),
            (DEPT_GET, {"errcode": 60020, "errmsg": "访问ip不在白名单之中"}, ["add this server's public"]),
            (
                DEPT_GET,
                {"errcode": 90020, "errmsg": "企业调用接口次数已达上限"},
                ["month's API calls", "90020"],
            ),
            (
                TOKEN,
                {"http_status": 403, "code": "Forbidden.AccessDenied.ApiCountLimitForOrg", "message": "超限"},
                ["month's API calls", "ApiCountLimitForOrg"],
            ),
            (DEPT_GET, {"errcode": 40069, "errmsg": "不合法的分页大小"}, ["page size", DEPT_GET, "40069"]),
            (DEPT_GET, {"errcode": 40068, "errmsg": "不合法的偏移量"}, ["offset", DEPT_GET, "40068"]),
        ]
        for path, fault, words in cases:
            with self.subTest(path=path, fault=fault):
                self.sandbox_fault(path, **fault)
                params = self._test_connection()
                self.sandbox.control("faults/clear", {})
                self.assertEqual(params["type"], "danger")
                for word in words:
                    self.assertIn(word, params["message"])
                if "whitelist" in params["message"]:
                    self.assertIn("IP whitelist (开发配置 → 安全设置 → 服务器出口IP)", params["message"])

    def test_test_connection_explains_throttling_after_backing_off(self):
        self.sandbox_fault(DEPT_GET, errcode=90018, count=5)
        self.sandbox.control("stats/reset", {})
        message = self._test_connection()["message"]
        self.assertIn("throttling", message)
        self.assertIn("Wait a minute", message)
        self.assertEqual(self.sandbox.stats()[DEPT_GET], 5, "the client backed off and retried 4 times first")
        self.sandbox_fault(TOKEN, http_status=403, code="Forbidden.AccessDenied.QpsLimitForAppkeyAndApi")
        with dt_client.never_wait():  # v1.0 too; given up at once rather than after the backoff
            message = self._test_connection()["message"]
        self.assertIn("Wait a minute", message)
        self.assertIn("QpsLimitForAppkeyAndApi", message)

    def test_a_directory_walks_failures_get_the_same_words(self):
        error = FetchError("/topapi/role/list", "", 40069, "不合法的分页大小", "req-1")
        self.assertIn(
            "page size Odoo used to read /topapi/role/list", self.company._dingtalk_error_message(error)
        )
        unreachable = FetchError("/topapi/role/list", "", None, "DingTalk /topapi/role/list timed out", None)
        self.assertIn("timed out", self.company._dingtalk_error_message(unreachable))

    def test_unreachable_dingtalk_is_reported(self):
        self.company.sudo().dingtalk_oapi_url = "http://127.0.0.1:9"
        params = self._test_connection()
        self.assertEqual(params["type"], "danger")
        self.assertIn("could not reach DingTalk", params["message"])

    def test_changes_apply_without_restart(self):
        self._settings(dingtalk_app_secret="wrong-secret").execute()
        self.assertEqual(self._test_connection()["type"], "danger")
        self._settings(dingtalk_app_secret=SANDBOX_APP["app_secret"]).execute()
        self.assertEqual(self._test_connection()["type"], "success")

    def test_missing_credentials_is_a_clear_error(self):
        self.company.sudo().dingtalk_app_secret = False
        params = self._test_connection()
        self.assertEqual(params["type"], "warning")
        self.assertIn("AppKey and AppSecret in Settings", params["message"])

    def test_status_panel(self):
        admin = self.env.ref("base.user_admin")
        admin.password = "admin"
        self.assertTrue(self._settings().dingtalk_default_admin_password)
        admin.password = "a-better-secret-9"
        self.assertFalse(self._settings().dingtalk_default_admin_password)
        run = self.env["ziqi.dingtalk.sync.run"]._queue(self.company, "departments")._run_to_end()
        self.env["ziqi.dingtalk.event"].create(
            {
                "company_id": self.company.id,
                "event_type": "user_add_org",
                "event_key": "s1",
                "state": "failed",
            }
        )
        settings = self._settings()
        self.assertEqual(settings.dingtalk_last_sync, run.ended_at)
        self.assertEqual((settings.dingtalk_events_24h, settings.dingtalk_failures), (1, 1))


@tagged("post_install", "-at_install")
class TestNeutralize(TransactionCase):
    """Its own class (its own transaction): the token table is written by other cursors in the tests above."""

    def test_neutralize_blanks_secrets_tokens_and_crons(self):
        company = self.env.company.sudo()
        company.write(
            {
                "dingtalk_app_key": "k",
                "dingtalk_app_secret": "s",
                "dingtalk_callback_token": "tok",
                "dingtalk_aes_key": "A" * 43,
            }
        )
        self.env.cr.execute(
            "INSERT INTO ziqi_dingtalk_token (app_key, access_token, expires_at) VALUES ('neutral', 't', 1)"
        )
        self.env.flush_all()
        neutralize_database(self.env.cr)
        self.env.invalidate_all()
        self.assertFalse(company.dingtalk_app_secret)
        self.assertFalse(company.dingtalk_callback_token)
        self.assertFalse(company.dingtalk_aes_key)
        self.assertEqual(company.dingtalk_app_key, "k", "non-secret settings stay")
        self.assertFalse(self.env["ziqi.dingtalk.token"].sudo().search([]))
        self.assertFalse(self.env.ref("ziqi_dingtalk.ir_cron_dingtalk_sync_schedule").active)
