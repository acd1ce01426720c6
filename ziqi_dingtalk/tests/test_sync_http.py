import datetime

from odoo import fields
from odoo.tests import tagged

from ..compat import USER_GROUPS
from .common import DingTalkHttpCase
from .test_tour_settings import SETTINGS_URL


@tagged("post_install", "-at_install")
class TestSyncHttp(DingTalkHttpCase):
    sandbox_args = ("--users", "30", "--departments", "6", "--roles", "3", "--seed", "11")

    def _api_key(self, user):
        expires = fields.Datetime.now() + datetime.timedelta(days=1)
        return self.env["res.users.apikeys"].with_user(user)._generate(None, "dingtalk sync", expires)

    def _post(self, query, key=None):
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return self.url_open(f"/dingtalk/sync?{query}", data={"source": "test"}, headers=headers)

    def test_http_trigger_needs_an_admin_api_key(self):
        self.assertEqual(self._post("type=user").status_code, 401, "an IP or a missing key is never enough")
        self.assertEqual(self._post("type=user", key="forged").status_code, 401)
        admin_key = self._api_key(self.env.ref("base.user_admin"))
        response = self._post("type=user", key=admin_key)
        self.assertEqual(response.status_code, 200, response.text)
        run = self.env["ziqi.dingtalk.sync.run"].browse(response.json()["run_id"])
        self.assertEqual((run.kind, run.trigger, run.state), ("users", "http", "queued"))
        self.assertEqual(self._post("type=nonsense", key=admin_key).status_code, 400)
        employee_user = self.env["res.users"].create(
            {
                "name": "员工",
                "login": "dt_employee",
                USER_GROUPS: [(6, 0, [self.env.ref("base.group_user").id])],
            }
        )
        self.assertEqual(self._post("type=all", key=self._api_key(employee_user)).status_code, 403)

    def test_a_leaver_is_signed_out_at_once(self):
        self.env["ziqi.dingtalk.sync.run"]._queue(self.company, "all")._run_to_end()
        org = self.sandbox.control("org")
        leaders = {uid for d in org["departments"] for uid in d.get("dept_manager_userid_list") or ()}
        person = next(u for u in org["users"] if u["userid"] not in leaders and not u.get("boss"))
        employee = self.env["hr.employee"].search([("dingtalk_userid", "=", person["userid"])])
        employee.user_id.password = "dingtalk-pw-123"
        self.authenticate(employee.user_id.login, "dingtalk-pw-123")
        self.assertNotIn("/web/login", self.url_open("/web").url, "signed in")
        self.sandbox.control("mutate", {"op": "remove_user", "userid": person["userid"]})
        self.env["ziqi.dingtalk.sync.run"]._queue(self.company, "all")._run_to_end()
        self.assertFalse(employee.user_id.active)
        self.assertIn("/web/login", self.url_open("/web").url, "the leaver's session ended")

    def test_sync_buttons_and_views_in_a_browser(self):
        self.start_tour(SETTINGS_URL, "ziqi_dingtalk_sync_button", login="admin")
        run = self.env["ziqi.dingtalk.sync.run"].search([("company_id", "=", self.company.id)], limit=1)
        self.assertEqual((run.kind, run.state), ("all", "queued"))
        run._run_to_end()
        self.assertEqual(run.state, "done")
        self.start_tour(
            "/odoo/action-ziqi_dingtalk.action_ziqi_dingtalk_sync_run", "ziqi_dingtalk_console", login="admin"
        )
