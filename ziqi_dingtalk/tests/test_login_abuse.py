"""Unauthenticated callers can neither make Odoo call DingTalk at will nor park workers behind its limiter."""

import time
from urllib.parse import parse_qs, urlencode, urlsplit

import requests

from odoo.tests import tagged

from ..controllers import throttle
from ..dingtalk.client import LIMIT_PERIOD, shared_limiter
from .common import SANDBOX_APP
from .test_login import LoginCase

GETUSERINFO = "/topapi/v2/user/getuserinfo"
USER_TOKEN = "/v1.0/oauth2/userAccessToken"
JUNK_CODES = ("x", "short", "a" * 129, "abc def ghi", "<script>alert(1)</script>", "代码" * 4, "../etc")


@tagged("post_install", "-at_install")
class TestDingTalkLoginAbuse(LoginCase):
    # --- helpers ---

    def inapp(self, code):
        """POST /dingtalk/auth from this test's browser session (the page gives the CSRF token)."""
        page = self.url_open(f"/dingtalk/index.html?corpid={SANDBOX_APP['corp_id']}")
        csrf = page.text.split('data-csrf-token="')[1].split('"')[0]
        data = {"code": code, "corp_id": SANDBOX_APP["corp_id"], "csrf_token": csrf}
        return self.url_open("/dingtalk/auth", data=data)

    def qr_state(self):
        """A genuine state for this browser session, from /dingtalk/login."""
        response = self.url_open("/dingtalk/login", allow_redirects=False)
        return parse_qs(urlsplit(response.headers["Location"]).query)["state"][0]

    def loginweb(self, code, state=None):
        query = urlencode({"state": state or self.qr_state(), "code": code})
        return self.url_open(f"/dingtalk/loginweb?{query}", allow_redirects=False)

    def error_of(self, response):
        self.assertEqual(response.status_code, 303)
        return parse_qs(urlsplit(response.headers["Location"]).query).get("dingtalk_error", [None])[0]

    def reset_sandbox_stats(self):
        self.sandbox.control("stats/reset", {})

    def fill_limiter(self, path):
        """Use up the app's client-side quota of ``path`` for the next LIMIT_PERIOD seconds."""
        limiter = shared_limiter(SANDBOX_APP["app_key"])
        for _ in range(limiter.rate):
            limiter.reserve(path)
        self.addCleanup(time.sleep, LIMIT_PERIOD)  # leave the quota free for the next test

    # --- impossible codes ---

    def test_impossible_codes_are_refused_without_asking_dingtalk(self):
        self.reset_sandbox_stats()
        for code in JUNK_CODES:
            with self.subTest(code=code):
                throttle.signin_throttle(self.env.registry).clear()
                answer = self.inapp(code)
                self.assertEqual((answer.status_code, answer.json()["error"]), (403, "failed"))
                self.assertEqual(self.error_of(self.loginweb(code)), "failed")
        self.assertEqual(self.sandbox.stats(), {}, "DingTalk was never asked")
        self.assertEqual(self.inapp("well-formed-but-unknown").json()["error"], "failed")
        self.assertEqual(
            self.sandbox.stats().get(GETUSERINFO),
            1,
            f"a plausible code is checked {self.sandbox.control('stats')}",
        )

    # --- quotas per session and per address ---

    def test_a_session_gets_five_attempts_a_minute(self):
        for _ in range(throttle.SESSION_LIMIT):
            self.assertEqual(self.inapp("no-such-code-000").status_code, 403)
        code = self.sandbox.control("auth_code", {"userid": self.userid})["code"]
        self.reset_sandbox_stats()
        refused = self.inapp(code)
        self.assertEqual(refused.status_code, 429)
        self.assertEqual(refused.json()["error"], "too_many")
        self.assertIn("Too many sign-in attempts", refused.json()["message"])
        self.assertEqual(self.error_of(self.loginweb(code, state="x")), "too_many", "the QR route counts too")
        self.assertNotIn(GETUSERINFO, self.sandbox.stats(), "refused before DingTalk is asked")
        self.assertFalse(self.signed_in_uid())

    def test_an_address_gets_ten_attempts_a_minute_whatever_its_sessions(self):
        url = f"{self.base_url()}/dingtalk/loginweb?state=x&code=no-such-code-000"
        # requests.get keeps no cookie: every attempt comes from a new session
        with self.outside_requests():
            attempts = range(throttle.ADDRESS_LIMIT + 2)
            responses = [requests.get(url, allow_redirects=False, timeout=10) for _ in attempts]
        errors = [self.error_of(response) for response in responses]
        self.assertEqual(errors, ["state"] * throttle.ADDRESS_LIMIT + ["too_many"] * 2)

    # --- the app's DingTalk quota: sign-ins never wait for it ---

    def test_a_full_rate_limiter_answers_429_at_once_instead_of_queueing(self):
        code = self.sandbox.control("auth_code", {"userid": self.userid})["code"]
        self.fill_limiter(GETUSERINFO)
        self.reset_sandbox_stats()
        started = time.monotonic()
        refused = self.inapp(code)
        self.assertEqual((refused.status_code, refused.json()["error"]), (429, "too_many"))
        self.assertLess(time.monotonic() - started, LIMIT_PERIOD, "did not sleep behind the limiter")
        self.assertNotIn(GETUSERINFO, self.sandbox.stats())
        time.sleep(LIMIT_PERIOD)
        self.assertEqual(self.inapp(code).status_code, 200, "the person's code still works a moment later")
        self.assertEqual(self.signed_in_uid(), self.employee.user_id.id)

    def test_a_full_rate_limiter_sends_the_qr_sign_in_back_to_the_login_page(self):
        self.fill_limiter(USER_TOKEN)
        self.reset_sandbox_stats()
        self.assertEqual(self.error_of(self.loginweb("a" * 32)), "too_many")
        self.assertNotIn(USER_TOKEN, self.sandbox.stats())
        page = self.url_open("/web/login?dingtalk_error=too_many")
        self.assertIn("Too many sign-in attempts", page.text, "the login page explains the refusal")

    def signed_in_uid(self):
        answer = self.url_open(
            "/web/session/get_session_info", data="{}", headers={"Content-Type": "application/json"}
        )
        return answer.json().get("result", {}).get("uid")
