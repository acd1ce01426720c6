from odoo.exceptions import UserError
from odoo.tests import tagged

from .common import DingTalkCase


@tagged("post_install", "-at_install")
class TestNotifications(DingTalkCase):
    sandbox_args = ("--users", "260", "--departments", "6", "--roles", "2", "--seed", "9")

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.env["ziqi.dingtalk.sync.run"]._queue(cls.company, "all")._run_to_end()
        cls.employees = cls.env["hr.employee"].search([("dingtalk_userid", "!=", False)], order="id")
        cls.recipient = cls.employees[0]

    def messages(self):
        return self.sandbox.control("messages")["messages"]

    def test_batches_of_100_with_task_ids_and_delivery_results(self):
        self.sandbox.control("reset", {"users": 260, "departments": 6, "roles": 2, "seed": 9})
        sent = self.env["ziqi.dingtalk.message"]._send(
            self.employees.user_id, text="周五下午三点全员大会", record=self.employees[0]
        )
        self.assertEqual(sent.mapped("recipient_count"), [100, 100, len(self.employees) - 200])
        self.assertTrue(all(sent.mapped("task_id")))
        calls = self.messages()
        self.assertEqual(len(calls), 3)
        self.assertEqual(calls[0]["msg"]["msgtype"], "action_card")
        self.assertIn("/odoo/hr.employee/", calls[0]["msg"]["action_card"]["single_url"])
        sent.action_check_result()
        self.assertEqual(set(sent.mapped("state")), {"checked"})
        self.assertEqual(
            sum(sent.mapped("unread_count")) + sum(sent.mapped("read_count")), len(self.employees)
        )

    def test_people_without_dingtalk_are_refused(self):
        nobody = self.env["res.users"].create({"name": "无钉钉", "login": "no_dingtalk"})
        with self.assertRaises(UserError):
            self.env["ziqi.dingtalk.message"]._send(nobody, text="hello")

    def test_a_failure_alert_reaches_the_recipient_once_per_period(self):
        self.sandbox.control("reset", {"users": 260, "departments": 6, "roles": 2, "seed": 9})
        self.company.write(
            {"dingtalk_alert_userid": self.recipient.dingtalk_userid, "dingtalk_alert_period": 60}
        )
        self.sandbox_fault("/topapi/v2/department/listsubid", errcode=60011, count=1000)
        first = self.env["ziqi.dingtalk.sync.run"]._queue(self.company, "all")._run_to_end()
        self.assertEqual(first.state, "done")
        self.assertFalse(first.walk_complete)
        [alert] = self.messages()
        self.assertEqual(alert["userid_list"], [self.recipient.dingtalk_userid])
        text = alert["msg"]["action_card"]["markdown"]
        self.assertIn(f"#{first.id}", text)
        self.assertIn("60011", text)
        self.assertTrue(
            alert["msg"]["action_card"]["single_url"].endswith(f"/odoo/ziqi.dingtalk.sync.run/{first.id}")
        )
        self.env["ziqi.dingtalk.sync.run"]._queue(self.company, "all")._run_to_end()
        self.assertEqual(len(self.messages()), 1, "the same failure alerts once per period")
        self.company.dingtalk_alert_period = 0
        self.env["ziqi.dingtalk.sync.run"]._queue(self.company, "all")._run_to_end()
        [_first, again] = self.messages()
        self.assertIn("1 more like this", again["msg"]["action_card"]["markdown"])

    def test_an_alert_that_cannot_be_sent_never_breaks_the_job(self):
        self.company.write(
            {"dingtalk_alert_userid": self.recipient.dingtalk_userid, "dingtalk_agent_id": "42"}
        )
        self.sandbox_fault("/topapi/v2/department/listsubid", errcode=60011, count=1000)
        run = self.env["ziqi.dingtalk.sync.run"]._queue(self.company, "all")._run_to_end()
        self.assertEqual(run.state, "done", "a wrong AgentId makes the alert fail, not the sync")
