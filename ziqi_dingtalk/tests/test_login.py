import datetime
from urllib.parse import parse_qs, urlsplit

import requests
from freezegun import freeze_time

from odoo.exceptions import AccessDenied
from odoo.tests import tagged

from ..compat import users_authenticate
from ..controllers.throttle import signin_throttle
from .common import SANDBOX_APP, DingTalkHttpCase


class LoginCase(DingTalkHttpCase):
    """A synced company and one of its (non-admin) people, ``userid``."""

    sandbox_args = ("--users", "20", "--departments", "4", "--roles", "2", "--seed", "3")

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.env["ziqi.dingtalk.sync.run"]._queue(cls.company, "all")._run_to_end()
        cls.org = cls.sandbox.control("org")
        employees = cls.env["hr.employee"].search(
            [("dingtalk_userid", "!=", False), ("user_id", "!=", False)]
        )
        cls.employee = employees.filtered(lambda e: not e.user_id.has_group("base.group_system"))[:1]
        cls.userid = cls.employee.dingtalk_userid

    def setUp(self):
        super().setUp()
        self.env.flush_all()
        signin_throttle(self.env.registry).clear()  # every test starts with the sign-in quota unused


@tagged("post_install", "-at_install")
class TestDingTalkLogin(LoginCase):
    # --- helpers ---

    def start(self, redirect="/odoo/action-hr.open_view_employee_list_my"):
        """GET /dingtalk/login; returns DingTalk's authorize URL (with our state)."""
        response = self.url_open(f"/dingtalk/login?redirect={redirect}", allow_redirects=False)
        self.assertEqual(response.status_code, 303)
        return response.headers["Location"]

    def scan(self, authorize_url, userid):
        """The person scans and approves on DingTalk's page; returns our /dingtalk/loginweb URL."""
        response = requests.get(f"{authorize_url}&userid={userid}", allow_redirects=False, timeout=10)
        self.assertEqual(response.status_code, 302, response.text)
        return response.headers["Location"]

    def finish(self, loginweb_url):
        return self.url_open(loginweb_url, allow_redirects=False)

    def signed_in_uid(self):
        return (
            self.url_open(
                "/web/session/get_session_info", data="{}", headers={"Content-Type": "application/json"}
            )
            .json()
            .get("result", {})
            .get("uid")
        )

    def error_of(self, response):
        self.assertEqual(response.status_code, 303)
        return parse_qs(urlsplit(response.headers["Location"]).query).get("dingtalk_error", [None])[0]

    # --- QR / browser OAuth ---

    def test_qr_login_signs_in_the_bound_user_and_lands_where_they_were_going(self):
        authorize = self.start()
        query = parse_qs(urlsplit(authorize).query)
        self.assertTrue(authorize.startswith(f"{self.sandbox.url}/oauth2/auth?"))
        self.assertEqual(query["client_id"], [SANDBOX_APP["app_key"]])
        self.assertTrue(query["redirect_uri"][0].endswith("/dingtalk/loginweb"))
        response = self.finish(self.scan(authorize, self.userid))
        self.assertEqual(response.status_code, 303)
        self.assertEqual(
            urlsplit(response.headers["Location"]).path, "/odoo/action-hr.open_view_employee_list_my"
        )
        self.assertEqual(self.signed_in_uid(), self.employee.user_id.id)

    def test_unknown_and_archived_people_are_refused(self):
        self.sandbox.control(
            "mutate",
            {
                "op": "add_user",
                "userid": "newcomer01",
                "name": "新同事",
                "dept_id_list": [self.org["departments"][0]["dept_id"]],
            },
        )
        self.assertEqual(self.error_of(self.finish(self.scan(self.start(), "newcomer01"))), "unknown")
        self.employee.user_id.active = False
        self.env.flush_all()
        self.assertEqual(self.error_of(self.finish(self.scan(self.start(), self.userid))), "archived")
        self.assertFalse(self.signed_in_uid())

    def test_an_account_outside_the_organisation_is_told_so(self):
        """A DingTalk account that is not in the company's organisation can still scan the QR code (DingTalk
        restricts the scan only with exclusiveLogin) and DingTalk tells its profile, but user/getbyunionid
        answers 60121 [KB:API/0064]: the login page says so, in the visitor's words."""
        outsider = self.sandbox.control("outsiders", {"name": "外部访客"})["outsider"]
        scanned = requests.get(
            f"{self.start()}&unionid={outsider['unionid']}", allow_redirects=False, timeout=10
        )
        self.assertEqual(scanned.status_code, 302, scanned.text)
        response = self.finish(scanned.headers["Location"])
        self.assertEqual(self.error_of(response), "not_member")
        self.assertFalse(self.signed_in_uid())
        target = urlsplit(response.headers["Location"])
        page = self.url_open(f"{target.path}?{target.query}")
        self.assertIn("Your DingTalk account is not a member of this", page.text)
        self.assertIn("o_dingtalk_login_error", page.text)
        # an external contact (contact_type 1 [KB:API/0064]) is not one of the organisation's people either
        self.sandbox.control(
            "faults",
            {
                "path": "/topapi/user/getbyunionid",
                "body": {"errcode": 0, "errmsg": "ok", "result": {"contact_type": 1, "userid": self.userid}},
            },
        )
        self.addCleanup(self.sandbox.control, "faults/clear", {})
        self.assertEqual(self.error_of(self.finish(self.scan(self.start(), self.userid))), "not_member")
        self.assertFalse(self.signed_in_uid())

    def test_first_login_can_create_the_account(self):
        self.company.sudo().dingtalk_login_create = True
        self.sandbox.control(
            "mutate",
            {
                "op": "add_user",
                "userid": "newcomer02",
                "name": "新同事二",
                "dept_id_list": [self.org["departments"][0]["dept_id"]],
            },
        )
        self.env.flush_all()
        response = self.finish(self.scan(self.start(), "newcomer02"))
        self.assertEqual(response.status_code, 303)
        employee = self.env["hr.employee"].search([("dingtalk_userid", "=", "newcomer02")])
        self.assertEqual(employee.name, "新同事二")
        self.assertEqual(self.signed_in_uid(), employee.user_id.id)

    def test_replayed_forged_or_expired_state_is_refused(self):
        loginweb = self.scan(self.start(), self.userid)
        self.assertEqual(self.error_of(self.finish(loginweb.replace("state=", "state=x"))), "state", "forged")
        self.assertIsNone(self.error_of(self.finish(loginweb)), "the genuine one still works")
        self.assertEqual(self.error_of(self.finish(loginweb)), "state", "a state is single-use")
        fresh = self.scan(self.start(), self.userid)
        with self.outside_requests():
            other_browser = requests.get(fresh, allow_redirects=False, timeout=10)
        self.assertIn("dingtalk_error=state", other_browser.headers["Location"], "bound to the browser")
        later = datetime.datetime.now() + datetime.timedelta(minutes=11)
        with freeze_time(later):
            self.assertEqual(self.error_of(self.finish(fresh)), "state", "expired after 10 minutes")

    def test_a_reused_code_is_refused(self):
        loginweb = self.scan(self.start(), self.userid)
        self.assertEqual(self.finish(loginweb).status_code, 303)
        code = parse_qs(urlsplit(loginweb).query)["code"][0]
        fresh = self.scan(self.start(), self.userid)
        replay = fresh.replace(parse_qs(urlsplit(fresh).query)["code"][0], code)
        self.assertEqual(self.error_of(self.finish(replay)), "failed", "DingTalk codes are single-use")

    def test_no_open_redirect(self):
        for target in ("https://evil.example/x", "//evil.example", "/\\evil.example", "javascript:alert(1)"):
            with self.subTest(target=target):
                response = self.finish(self.scan(self.start(redirect=target), self.userid))
                self.assertEqual(response.headers["Location"].split("://", 1)[-1].split("/", 1)[-1], "web")

    def test_dingtalk_ids_are_never_passwords(self):
        user = self.employee.user_id
        for secret in (self.userid, self.employee.dingtalk_unionid):
            with self.subTest(secret=secret), self.assertRaises(AccessDenied):
                users_authenticate(
                    self.env,
                    {"type": "password", "login": user.login, "password": secret},
                    {"interactive": True},
                )
        forged = {"type": "dingtalk", "login": user.login, "token": "9999999999:forged"}
        with self.assertRaises(AccessDenied):
            users_authenticate(self.env, forged, {"interactive": True})
        valid = {"type": "dingtalk", "login": user.login, "token": user._dingtalk_login_token()}
        with self.assertRaises(AccessDenied, msg="not over RPC (non-interactive)"):
            users_authenticate(self.env, valid, {"interactive": False})
        response = self.url_open(
            "/web/session/authenticate",
            data=(
                '{"jsonrpc":"2.0","params":{"db":"%s","login":"%s","password":"%s"}}'
                % (self.env.cr.dbname, user.login, self.userid)
            ),
            headers={"Content-Type": "application/json"},
        )
        self.assertIn("error", response.json())

    # --- in-app (workbench) ---

    def inapp(self, code, corp_id=SANDBOX_APP["corp_id"]):
        page = self.url_open(f"/dingtalk/index.html?corpid={corp_id}")
        self.assertEqual(page.status_code, 200)
        csrf = page.text.split('data-csrf-token="')[1].split('"')[0]
        return self.url_open("/dingtalk/auth", data={"code": code, "corp_id": corp_id, "csrf_token": csrf})

    def test_inapp_login(self):
        code = self.sandbox.control("auth_code", {"userid": self.userid})["code"]
        response = self.inapp(code)
        self.assertEqual(response.status_code, 200, response.text)
        self.assertEqual(response.json()["redirect"], "/web")
        self.assertEqual(self.signed_in_uid(), self.employee.user_id.id)

    def test_inapp_bad_code_and_wrong_corp(self):
        bad = self.inapp("no-such-code")
        self.assertEqual((bad.status_code, bad.json()["error"]), (403, "failed"))
        code = self.sandbox.control("auth_code", {"userid": self.userid})["code"]
        wrong = self.inapp(code, corp_id="dingotherorganisation")
        self.assertEqual((wrong.status_code, wrong.json()["error"]), (403, "corp"))
        self.assertNotIn("Traceback", wrong.text)
        self.assertFalse(self.signed_in_uid())

    # --- in a real browser ---

    def test_login_page_button_in_a_browser(self):
        self.sandbox.control("config", {"login_as": self.userid})
        self.addCleanup(self.sandbox.control, "config", {"login_as": None})
        self.start_tour("/web/login", "ziqi_dingtalk_login_button")
        self.assertTrue(self.employee.user_id.login_date, "signed in through the DingTalk button")

    def test_inapp_page_in_a_browser(self):
        code = self.sandbox.control("auth_code", {"userid": self.userid})["code"]
        stub = (
            """
            window.dd = { requestAuthCode: (p) => p.onSuccess({ code: "%s" }) };
            window.dingtalkInapp.start().then((answer) => {
                if (answer.redirect === "/web") { console.log("test successful"); }
                else { console.error("in-app sign-in failed: " + JSON.stringify(answer)); }
            });
        """
            % code
        )
        outside = "!!document.querySelector('.o_dingtalk_inapp_outside:not(.d-none)')"
        self.browser_js(f"/dingtalk/index.html?corpid={SANDBOX_APP['corp_id']}", stub, ready=outside)
        self.assertTrue(self.employee.user_id.login_date)


@tagged("post_install", "-at_install", "-standard", "ziqi_dingtalk_website")
class TestLoginWithWebsite(LoginCase):
    """With ``website`` installed, Odoo's login page is the website's (bin/test installs it on a database
    of its own and runs this class there)."""

    def test_the_website_login_page_offers_dingtalk_in_a_browser(self):
        if "website" not in self.env:
            self.skipTest("website is not installed")
        page = self.url_open("/web/login")
        self.assertIn("data-website-id", page.text, "the website's layout")
        self.assertIn("o_dingtalk_login_button", page.text)
        self.sandbox.control("config", {"login_as": self.userid})
        self.addCleanup(self.sandbox.control, "config", {"login_as": None})
        self.start_tour("/web/login", "ziqi_dingtalk_login_button")
        self.assertTrue(self.employee.user_id.login_date, "signed in through the DingTalk button")
