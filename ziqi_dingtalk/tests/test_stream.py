"""Stream mode end to end: the sandbox's Stream gateway (a WebSocket, as DingTalk's), the dingtalk_stream
service's loop run on the test's cursor, the event inbox and the cron that applies events."""

import datetime
import time
from unittest.mock import patch

import psycopg2

from odoo import fields
from odoo.exceptions import AccessError
from odoo.tests import new_test_user, tagged

from ..cli.dingtalk_stream import StreamService
from ..dingtalk.stream import SUCCESS, event_message
from ..models.ziqi_dingtalk_event import ZiqiDingtalkEvent
from .common import DingTalkHttpCase

HEARTBEAT = 0.5  # a silent connection is replaced after 1.5 s
ACK_TIMEOUT = 1.0  # the sandbox redelivers what was not acknowledged after this


@tagged("post_install", "-at_install")
class TestStream(DingTalkHttpCase):
    sandbox_args = ("--users", "30", "--departments", "6", "--roles", "3", "--seed", "5")

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.Event = cls.env["ziqi.dingtalk.event"]
        cls.Employee = cls.env["hr.employee"].with_context(active_test=False)

    def setUp(self):
        super().setUp()
        self.sandbox.control("reset", {"users": 30, "departments": 6, "roles": 3, "seed": 5})
        self.sandbox.control(
            "stream",
            {
                "event_delivery": "stream",
                "ack_timeout": ACK_TIMEOUT,
                "ping_interval": 30,
                "disconnect_grace": 1,
            },
        )
        self.addCleanup(self.sandbox.control, "stream", {"event_delivery": "http"})
        self.org = self.sandbox.control("org")
        self.env["ziqi.dingtalk.sync.run"]._queue(self.company, "all")._run_to_end()
        self.company.dingtalk_event_delivery = "stream"
        self.env.flush_all()

    # --- helpers ---

    def service(self, process="test-1"):
        service = StreamService(self.registry, heartbeat=HEARTBEAT, reload_every=0.2, process=process)
        self.addCleanup(service.shutdown)
        return service

    def run_until(self, condition, *services, timeout=20, what="the condition"):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for service in services:
                service.step(wait=0.02)
            if condition():
                return
        self.fail(f"{what} did not happen within {timeout} s: {self.gateway()}")

    def gateway(self):
        return self.sandbox.control("stream")

    def live(self):
        return [c for c in self.gateway()["connections"] if c["state"] == "open"]

    def connected(self, count=1):
        return lambda: len(self.live()) == count

    def events(self):
        return {e["event_id"]: e for e in self.sandbox.control("stream/events")["events"]}

    def acked(self, *event_ids):
        return lambda: all(self.events().get(i, {}).get("state") == "acked" for i in event_ids)

    def publish(self, *events):
        return [
            e["event_id"] for e in self.sandbox.control("stream/publish", {"events": list(events)})["events"]
        ]

    def a_person(self, n=0):
        return [u for u in self.org["users"] if not u.get("boss") and not u.get("left")][n]

    def rename(self, person, name):
        """A change in DingTalk: the sandbox sends its user_modify_org over Stream; returns its eventId."""
        return self.sandbox.control(
            "mutate", {"op": "update_user", "userid": person["userid"], "name": name}
        )["event"]["eventId"]

    def stored(self, event_id):
        self.env.invalidate_all()
        return self.Event.search([("company_id", "=", self.company.id), ("event_key", "=", event_id)])

    def employee(self, userid):
        self.env.invalidate_all()
        return self.Employee.search([("dingtalk_userid", "=", userid), ("company_id", "=", self.company.id)])

    @staticmethod
    def people_event(*userids):
        return {"EventType": "user_modify_org", "userId": list(userids)}

    # --- events over Stream ---

    def test_an_org_change_arrives_over_stream_and_is_applied(self):
        service = self.service()
        self.run_until(self.connected(), service, what="a connection")
        connection = self.live()[0]
        self.assertEqual(connection["app_key"], self.company.dingtalk_app_key)
        person = self.a_person()
        event_id = self.rename(person, "流式改名")
        self.run_until(self.acked(event_id), service, what="the acknowledgement")
        event = self.stored(event_id)
        self.assertEqual(event.event_type, "user_modify_org")
        self.assertEqual(event.userid_list, [person["userid"]])
        self.assertEqual(event.data["CorpId"], self.company.dingtalk_corp_id, "stored like an HTTP push")
        self.Event._cron_process()
        self.assertEqual(event.state, "done")
        self.assertEqual(self.employee(person["userid"]).name, "流式改名")
        self.assertEqual(self.events()[event_id]["deliveries"][0]["ack"], "SUCCESS")

    def test_an_event_is_acknowledged_only_once_committed(self):
        service = self.service()
        self.run_until(self.connected(), service, what="a connection")
        (event_id,) = self.publish(self.people_event(self.a_person()["userid"]))
        deadline = time.monotonic() + 10
        while service.inbox.empty() and time.monotonic() < deadline:  # received, not yet stored
            time.sleep(0.02)
        self.assertFalse(service.inbox.empty(), "the reader thread handed the event over")
        self.assertEqual(self.events()[event_id]["state"], "in_flight", "not acknowledged by the reader")
        self.assertFalse(self.stored(event_id))
        service.pump(0)
        self.assertTrue(self.stored(event_id))
        self.run_until(self.acked(event_id), service, what="the acknowledgement")

    def test_an_event_that_cannot_be_stored_is_answered_later_and_redelivered(self):
        service = self.service()
        self.run_until(self.connected(), service, what="a connection")
        failure = psycopg2.OperationalError("the database is gone")
        logger = "odoo.addons.ziqi_dingtalk.cli.dingtalk_stream"
        with patch.object(ZiqiDingtalkEvent, "_store", side_effect=failure), self.assertLogs(logger, "ERROR"):
            (event_id,) = self.publish(self.people_event(self.a_person()["userid"]))
            self.run_until(
                lambda: any(d["ack"] == "LATER" for d in self.events()[event_id]["deliveries"]),
                service,
                what="a LATER",
            )
        self.run_until(self.acked(event_id), service, what="the redelivery")
        self.assertEqual(len(self.stored(event_id)), 1)
        acks = [d["ack"] for d in self.events()[event_id]["deliveries"]]
        self.assertEqual(acks[-1], "SUCCESS")
        self.assertIn("LATER", acks)

    def test_an_event_received_but_never_acknowledged_is_redelivered(self):
        service = self.service()
        self.run_until(self.connected(), service, what="a connection")
        (event_id,) = self.publish(self.people_event(self.a_person()["userid"]))
        deadline = time.monotonic() + 10
        while service.inbox.empty() and time.monotonic() < deadline:
            time.sleep(0.02)
        service.inbox.get_nowait()  # lost: as if the process died before storing it
        self.run_until(self.acked(event_id), service, what="the redelivery")
        self.assertEqual(self.events()[event_id]["attempts"], 2)
        self.assertEqual(len(self.stored(event_id)), 1)

    def test_a_duplicate_is_acknowledged_and_stored_once(self):
        service = self.service()
        self.run_until(self.connected(), service, what="a connection")
        event = dict(self.people_event(self.a_person()["userid"]), eventId="dup-0001")
        self.publish(event)
        self.run_until(self.acked("dup-0001"), service, what="the first delivery")
        self.sandbox.control("reset", {"users": 30, "departments": 6, "roles": 3, "seed": 5})
        self.publish(event)  # DingTalk may deliver an acknowledged event again [PEDIA FAQ]
        self.run_until(self.acked("dup-0001"), service, what="the second delivery")
        self.assertEqual(len(self.stored("dup-0001")), 1)

    # --- connections lost and replaced ---

    def test_dropped_connections_are_replaced_and_nothing_is_lost(self):
        service = self.service()
        userid = self.a_person()["userid"]
        for how in ("close", "disconnect", "silent"):
            with self.subTest(how=how):
                self.run_until(self.connected(), service, what="a connection")
                before = self.live()[0]["id"]
                dropped = self.sandbox.control("stream/drop", {"how": how})["dropped"]
                self.assertTrue(dropped, how)
                event_ids = self.publish(*(self.people_event(userid) for _n in range(5)))
                self.run_until(self.acked(*event_ids), service, timeout=30, what=f"delivery after {how}")
                self.assertNotEqual(self.live()[0]["id"], before, "a new connection")
                for event_id in event_ids:
                    self.assertEqual(len(self.stored(event_id)), 1, (how, event_id))
        agent = service.agents[self.company.id][1]
        self.assertGreaterEqual(agent.reconnects, 3)

    def test_two_services_apply_each_event_once(self):
        first, second = self.service("test-1"), self.service("test-2")
        self.run_until(self.connected(2), first, second, what="two connections")
        userids = [self.a_person(n)["userid"] for n in range(5)]
        event_ids = self.publish(*(self.people_event(userids[n % 5]) for n in range(40)))
        self.sandbox.control("stream/drop", {"how": "close", "connection": self.live()[0]["id"]})
        self.run_until(self.acked(*event_ids), first, second, timeout=30, what="every delivery")
        for event_id in event_ids:
            self.assertEqual(len(self.stored(event_id)), 1, event_id)
        received = [service.counts.get(self.company.id, [0])[0] for service in (first, second)]
        self.assertEqual(sum(received), 40, "each event stored by one of them")
        self.assertTrue(all(received), f"DingTalk spreads events over both connections: {received}")
        self.Event._cron_process()
        states = set(self.Event.search([("event_key", "in", event_ids)]).mapped("state"))
        self.assertEqual(states, {"done"})

    # --- settings ---

    def test_switching_between_http_and_stream(self):
        self.company.dingtalk_event_delivery = "http"
        self.env.flush_all()
        service = self.service()
        for _turn in range(5):
            service.step(wait=0.05)
        self.assertFalse(self.live(), "a company on HTTP push gets no connection")
        self.company.dingtalk_event_delivery = "stream"
        self.env.flush_all()
        self.run_until(self.connected(), service, what="a connection once set to Stream")
        self.company.dingtalk_event_delivery = "http"
        self.env.flush_all()
        self.run_until(self.connected(0), service, what="the connection closed once set to HTTP")
        service.report()
        self.env.invalidate_all()
        row = self.env["ziqi.dingtalk.stream"].search([("company_id", "=", self.company.id)])
        self.assertEqual(row.state, "stopped")

    def test_a_settings_change_is_picked_up_without_a_restart(self):
        service = self.service()
        self.run_until(self.connected(), service, what="a connection")
        self.company.sudo().dingtalk_app_secret = "not-the-secret"
        self.env.flush_all()
        self.run_until(self.connected(0), service, what="the old connection closed")
        agent = service.agents[self.company.id][1]
        self.run_until(lambda: agent.last_error, service, what="the refused connection")
        self.assertIn("invalidClientIdOrSecret", agent.last_error)
        self.company.sudo().dingtalk_app_secret = "sandbox-app-secret"
        self.env.flush_all()
        self.run_until(self.connected(), service, timeout=30, what="the connection with the right secret")

    def test_the_status_panel_shows_the_connection(self):
        settings = self.env["res.config.settings"].create({})
        self.assertTrue(settings.dingtalk_stream_warning, "no service yet")
        self.assertEqual(settings.dingtalk_stream_connections, 0)
        service = self.service()
        self.run_until(self.connected(), service, what="a connection")
        (event_id,) = self.publish(self.people_event(self.a_person()["userid"]))
        self.run_until(self.acked(event_id), service, what="the acknowledgement")
        service.report()
        self.env.invalidate_all()
        settings = self.env["res.config.settings"].create({})
        self.assertEqual(settings.dingtalk_stream_connections, 1)
        self.assertFalse(settings.dingtalk_stream_warning)
        self.assertTrue(settings.dingtalk_stream_since)
        self.assertTrue(settings.dingtalk_stream_event)
        service.shutdown()
        self.env.invalidate_all()
        settings = self.env["res.config.settings"].create({})
        self.assertEqual(settings.dingtalk_stream_connections, 0)
        self.assertIn("dingtalk_stream", settings.dingtalk_stream_warning)

    def test_a_service_that_died_is_shown_down_then_forgotten(self):
        Stream = self.env["ziqi.dingtalk.stream"]
        status = {"state": "connected", "connected_since": "2026-01-01 00:00:00", "events": 3}
        Stream._report(self.company.id, "host:1", status)
        settings = self.env["res.config.settings"].create({})
        self.assertEqual(settings.dingtalk_stream_connections, 1, "reported just now: up")
        dead = Stream.search([("process", "=", "host:1")])
        dead.reported_at = fields.Datetime.now() - datetime.timedelta(minutes=3)  # killed: no report since
        self.env.invalidate_all()
        settings = self.env["res.config.settings"].create({})
        self.assertEqual(settings.dingtalk_stream_connections, 0, "no report for 3 minutes: down")
        self.assertTrue(settings.dingtalk_stream_warning)
        Stream._report(self.company.id, "host:2", status)
        Stream._forget_stopped("host:2", [self.company.id])
        self.assertTrue(dead.exists(), "a day has not passed")
        dead.reported_at = fields.Datetime.now() - datetime.timedelta(days=2)
        Stream._forget_stopped("host:2", [self.company.id])
        self.assertFalse(dead.exists(), "a process silent for two days is forgotten")
        self.assertTrue(Stream.search([("process", "=", "host:2")]), "the live one stays")

    def test_an_event_of_another_organisation_or_unreadable_is_acknowledged_not_stored(self):
        headers = {
            "messageId": "m1",
            "eventType": "user_add_org",
            "eventId": "e-other",
            "eventCorpId": "dingX",
        }
        other = event_message({"headers": headers, "data": '{"userId": ["u1"]}'})
        broken = event_message({"headers": {**headers, "eventId": "e-bad"}, "data": '{"userId": [NaN]}'})
        answers = self.env["ziqi.dingtalk.stream"]._store_messages(self.company, [other, broken])
        self.assertEqual(answers, [(SUCCESS, "another organisation"), (SUCCESS, "unreadable")])
        self.assertFalse(self.stored("e-other") | self.stored("e-bad"))

    def test_only_settings_admins_read_the_connections(self):
        self.env["ziqi.dingtalk.stream"]._report(self.company.id, "host:1", {"state": "connected"})
        officer = new_test_user(self.env, "stream_officer", groups="base.group_user,hr.group_hr_manager")
        with self.assertRaises(AccessError):
            self.env["ziqi.dingtalk.stream"].with_user(officer).search([]).read(["process"])

    def test_the_failed_push_list_is_not_pulled_for_a_stream_company(self):
        self.sandbox.control("stats/reset", {})
        self.company.sudo().write({"dingtalk_callback_token": "t0ken", "dingtalk_aes_key": "a" * 43})
        self.env["ziqi.dingtalk.callback"]._cron_pull_failed()
        calls = self.sandbox.stats()
        self.assertFalse([path for path in calls if "get_call_back_failed_result" in path], calls)
        self.company.dingtalk_event_delivery = "http"
        self.env["ziqi.dingtalk.callback"]._cron_pull_failed()
        calls = self.sandbox.stats()
        self.assertTrue([path for path in calls if "get_call_back_failed_result" in path], "pulled on HTTP")
