"""Pushes DingTalk gave up on (protocol §2.3, §9.6): the sandbox retries a failed push (10 s, then 30 s:
shortened here), parks it, and Odoo pulls it with call_back/get_call_back_failed_result."""

import datetime
import time

from odoo import fields
from odoo.tests import tagged

from ..dingtalk.crypto import generate_aes_key
from ..models import ziqi_dingtalk_callback as callback_module
from .common import DingTalkHttpCase

TOKEN = "ziqi-failed-token"
FAILED_PATH = "/call_back/get_call_back_failed_result"
FAST = {"push_retry_delays": [0.05, 0.05], "failed_visible_after": 0, "failed_page_size": 200}


@tagged("post_install", "-at_install")
class TestFailedPushes(DingTalkHttpCase):
    sandbox_args = ("--users", "20", "--departments", "4", "--roles", "2", "--seed", "11")

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.aes_key = generate_aes_key()
        cls.configure_company(cls.company, dingtalk_callback_token=TOKEN, dingtalk_aes_key=cls.aes_key)
        cls.Event = cls.env["ziqi.dingtalk.event"]
        cls.Employee = cls.env["hr.employee"].with_context(active_test=False)

    def setUp(self):
        super().setUp()
        self.sandbox.control("reset", {"users": 20, "departments": 4, "roles": 2, "seed": 11})
        self.sandbox.control("config", FAST)
        self.org = self.sandbox.control("org")
        self.env["ziqi.dingtalk.sync.run"]._queue(self.company, "all")._run_to_end()

    # --- helpers ---

    def push(self, event, token=TOKEN, **options):
        """DingTalk pushes ``event`` to Odoo; a failed push is retried, then parked. Returns the first
        attempt, once the retries are over (the test thread leaves the database alone meanwhile)."""
        self.env.flush_all()  # the server thread reads the database
        body = {
            "event": event,
            "url": f"{self.base_url()}/dingtalk/callback",
            "token": token,
            "aes_key": self.aes_key,
            "retry": True,
            **options,
        }
        with self.outside_requests():
            result = self.sandbox.control("push_event", body)
            self.settled()
        return result

    def settled(self, timeout=10):
        deadline = time.monotonic() + timeout
        while (state := self.sandbox.control("failed"))["scheduled"]:
            self.assertLess(time.monotonic(), deadline, "the sandbox's retries never ended")
            time.sleep(0.02)
        return state

    def park(self, payload, dialect="camel"):
        """Park an event as DingTalk does once all its pushes failed."""
        return self.sandbox.control("failed", {"event": payload, "dialect": dialect})["entry"]

    def mutate(self, op, **body):
        return self.sandbox.control("mutate", dict(body, op=op))["events"]

    def people(self, count):
        leaders = {uid for d in self.org["departments"] for uid in d.get("dept_manager_userid_list") or ()}
        return [u["userid"] for u in self.org["users"] if u["userid"] not in leaders and not u.get("boss")][
            :count
        ]

    def employee(self, userid):
        return self.Employee.search([("dingtalk_userid", "=", userid), ("company_id", "=", self.company.id)])

    def pull(self):
        """(pulled, new) of one pull."""
        self.env.flush_all()
        return self.env["ziqi.dingtalk.callback"]._pull_failed(self.company)[:2]

    # --- tests ---

    def test_a_refused_push_is_parked_then_pulled_and_applied(self):
        userid = self.people(1)[0]
        (event,) = self.mutate("update_user", userid=userid, title="首席顾问")
        first = self.push(event, token="not-our-callback-token")  # Odoo refuses what it cannot verify
        self.assertEqual((first["success"], first["status"]), (False, 403), first)
        state = self.settled()
        self.assertEqual(state["counts"], {"events": 1, "retries": 2, "parked": 1})
        self.assertFalse(self.Event.search([]), "nothing refused is stored")
        self.assertEqual(self.pull(), (1, 1))
        stored = self.Event.search([])
        self.assertEqual(
            (stored.event_type, stored.userid_list, stored.state), ("user_modify_org", [userid], "pending")
        )
        self.assertEqual(stored.data["call_back_tag"], "user_modify_org", "kept as DingTalk handed it out")
        self.Event._cron_process()
        self.assertEqual(stored.state, "done")
        self.assertEqual(self.employee(userid).job_title, "首席顾问")
        self.assertEqual(self.pull(), (0, 0), "DingTalk handed it out once")

    def test_a_push_to_nowhere_is_pulled_too(self):
        userid = self.people(1)[0]
        (event,) = self.mutate("update_user", userid=userid, title="架构师")
        first = self.push(event, url="http://127.0.0.1:9/dingtalk/callback")
        self.assertIn("cannot reach", first["error"])
        self.env["ziqi.dingtalk.callback"]._cron_pull_failed()
        self.Event._cron_process()
        self.assertEqual(self.employee(userid).job_title, "架构师")

    def test_an_event_both_pushed_and_pulled_is_stored_once(self):
        """DingTalk got no valid answer in time from a push Odoo stored, retried, then parked it."""
        first, second = self.people(2)
        dept = self.org["departments"][-1]["dept_id"]
        role = self.org["role_groups"][0]["roles"][0]["id"]
        produced = [
            (self.mutate("update_user", userid=first, title="甲")[0], "camel"),
            (self.mutate("update_dept", dept_id=dept, name="重组部")[0], "pascal"),
            (self.mutate("set_role_members", role_id=role, userids=[second])[0], "camel"),
            (self.mutate("remove_user", userid=first)[0], "pascal"),
        ]
        for event, dialect in produced:
            self.assertTrue(self.push(event, dialect=dialect)["success"])
        pushed = self.Event.search([])
        self.assertEqual(len(pushed), 4)
        payloads = [p["payload"] for p in self.sandbox.control("pushes")["pushes"]]
        for payload, (_event, dialect) in zip(payloads, produced, strict=True):
            self.park(payload, dialect)  # the same events, as the failed list hands them out
        self.assertEqual(self.pull(), (4, 0))
        self.assertEqual(self.Event.search([]), pushed, "each event is stored once")
        self.Event._cron_process()
        self.assertEqual(set(pushed.mapped("state")), {"done"})

    def test_pages_are_pulled_until_has_more_is_false(self):
        self.sandbox.control("config", {"failed_page_size": 2})
        userids = self.people(5)
        for userid in userids:
            (event,) = self.mutate("update_user", userid=userid, title="工程师")
            self.park(event)
        self.sandbox.control("stats/reset", {})
        self.assertEqual(self.pull(), (5, 5))
        self.assertEqual(
            self.sandbox.stats().get(FAILED_PATH),
            3,
            f"pages of 2, 2 and 1 {self.sandbox.control('stats')} {self.sandbox.control('pushes')}",
        )
        self.assertEqual(sorted(self.Event.search([]).mapped("people")), sorted(userids))

    def test_a_dingtalk_error_is_alerted_once_and_loses_nothing(self):
        self.company.dingtalk_alert_userid = self.people(1)[0]
        (event,) = self.mutate("update_user", userid=self.people(2)[1], title="财务")
        self.park(event)
        self.sandbox.control("faults", {"path": FAILED_PATH, "errcode": 60011, "count": 2})
        self.addCleanup(self.sandbox.control, "faults/clear", {})
        for _run in range(2):
            with self.assertLogs("odoo.addons.ziqi_dingtalk.models.ziqi_dingtalk_callback", "WARNING"):
                self.env["ziqi.dingtalk.callback"]._cron_pull_failed()
        self.assertFalse(self.Event.search([]))
        self.assertEqual(len(self.sandbox.control("messages")["messages"]), 1, "alerted once")
        self.env["ziqi.dingtalk.callback"]._cron_pull_failed()
        self.assertEqual(len(self.Event.search([])), 1, "DingTalk kept it: the next run gets it")

    def test_a_page_that_cannot_be_stored_stops_the_pull_and_alerts(self):
        """A page DingTalk handed out is gone from DingTalk: if it cannot be committed, no further page is
        asked for (it would be lost too), and the administrator is told."""
        self.company.dingtalk_alert_userid = self.people(1)[0]
        self.sandbox.control("config", {"failed_page_size": 1})
        # a row PostgreSQL refuses (the constraint, like the table, is rolled back with the test)
        self.env.cr.execute(
            "ALTER TABLE ziqi_dingtalk_event ADD CONSTRAINT test_refused"
            " CHECK (position('u-refused' in data::text) = 0)"
        )
        self.park({"EventType": "user_add_org", "userId": ["u-refused"]})
        (event,) = self.mutate("update_user", userid=self.people(2)[1], title="出纳")
        self.park(event)
        self.sandbox.control("stats/reset", {})
        with self.assertLogs("odoo.addons.ziqi_dingtalk.models.ziqi_dingtalk_callback", "ERROR"):
            self.assertEqual(self.pull(), (1, 0))
        self.assertEqual(self.sandbox.stats().get(FAILED_PATH), 1, "the next page is not asked for")
        self.assertEqual(len(self.sandbox.control("messages")["messages"]), 1)
        self.assertEqual(self.pull(), (1, 1), "the next run goes on")

    def test_quiet_pulls_are_spaced_out_to_spare_the_monthly_quota(self):
        """The API counts against the monthly call quota: each minute only after Odoo starts and after a pull
        that found pushes or failed; otherwise every FAILED_PULL_QUIET."""
        cron = self.env["ziqi.dingtalk.callback"]
        long_ago = fields.Datetime.now() - datetime.timedelta(hours=1)
        self.patch(callback_module, "PROCESS_STARTED", long_ago)
        self.company.sudo().write({"dingtalk_failed_pulled_at": False, "dingtalk_failed_fast_until": False})

        def calls_of_one_run():
            self.sandbox.control("stats/reset", {})
            cron._cron_pull_failed()
            return self.sandbox.stats().get(FAILED_PATH, 0)

        self.assertEqual(calls_of_one_run(), 1, "never pulled: due")
        self.assertEqual(calls_of_one_run(), 0, "nothing was there: not again before half an hour")
        (event,) = self.mutate("update_user", userid=self.people(1)[0], title="顾问")
        self.park(event)
        pulled_at = fields.Datetime.now() - callback_module.FAILED_PULL_QUIET
        self.company.sudo().dingtalk_failed_pulled_at = pulled_at
        self.assertEqual(calls_of_one_run(), 1, "half an hour later")
        self.assertEqual(len(self.Event.search([])), 1)
        self.assertEqual(calls_of_one_run(), 1, "a pull found some: each minute for a while")
        self.company.sudo().dingtalk_failed_fast_until = long_ago
        self.assertEqual(calls_of_one_run(), 0)
        self.patch(callback_module, "PROCESS_STARTED", fields.Datetime.now())
        self.assertEqual(calls_of_one_run(), 1, "Odoo just started: pushes may have failed while it was down")

    def test_only_companies_with_http_push_are_pulled(self):
        cron = self.env.ref("ziqi_dingtalk.ir_cron_dingtalk_failed_pushes")
        self.assertEqual((cron.interval_number, cron.interval_type, cron.active), (1, "minutes", True))
        other = self.env["res.company"].create({"name": "No push"})
        self.configure_company(other)  # the app, but no callback token or aes_key
        self.sandbox.control("stats/reset", {})
        self.env["ziqi.dingtalk.callback"]._cron_pull_failed()
        self.assertEqual(self.sandbox.stats().get(FAILED_PATH), 1)
