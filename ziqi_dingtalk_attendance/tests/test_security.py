"""Attacks through the real routes: JSON-RPC as an attendance administrator (not a DingTalk admin), and a
punch event signed with the company's callback keys. The binding of an attendance to a DingTalk shift and
an exception's DingTalk side are written by the import only; an event's own words are never applied."""

import datetime

from odoo import Command, fields
from odoo.addons.ziqi_dingtalk.compat import USER_GROUPS
from odoo.addons.ziqi_dingtalk.dingtalk.crypto import generate_aes_key
from odoo.exceptions import AccessError
from odoo.tests import tagged

from .common import AttendanceCase, utc


def json_ready(value):
    """``value`` with its datetimes as Odoo's strings, as a web client sends them."""
    if isinstance(value, dict):
        return {key: json_ready(item) for key, item in value.items()}
    if isinstance(value, datetime.datetime):
        return fields.Datetime.to_string(value)
    return value


NINE_TO_SIX = [["09:00", "18:00"]]
TOKEN = "ziqi-attendance-token"
GROUPS = ("base.group_user", "hr_attendance.group_hr_attendance_manager")


@tagged("post_install", "-at_install")
class TestAttendanceSecurity(AttendanceCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.aes_key = generate_aes_key()
        cls.configure_company(cls.company, dingtalk_callback_token=TOKEN, dingtalk_aes_key=cls.aes_key)
        cls.officer = cls.env["res.users"].create(
            {
                "name": "考勤管理员",
                "login": "attendance-admin",
                "password": "officer-pass-1",
                USER_GROUPS: [
                    Command.set(
                        [
                            cls.env.ref("base.group_user").id,
                            cls.env.ref("hr_attendance.group_hr_attendance_manager").id,
                        ]
                    )
                ],
            }
        )

    def setUp(self):
        super().setUp()
        self.schedule(self.alice, NINE_TO_SIX)
        self.punch(self.alice, f"{self.on()} 09:00")
        self.punch(self.alice, f"{self.on()} 18:00")
        self.schedule(self.bob, NINE_TO_SIX)
        self.punch(self.bob, f"{self.on()} 09:00")
        self.run_import(self.alice | self.bob)
        self.attendance, self.exception = self.attendances(self.alice), self.exceptions(self.bob)
        self.env.flush_all()
        self.authenticate("attendance-admin", "officer-pass-1")

    def rpc(self, model, method, *args):
        """Call ``method`` over JSON-RPC as the attendance admin; the error text, or None when it ran."""
        args = [json_ready(arg) for arg in args]
        try:
            self.make_jsonrpc_request(
                "/web/dataset/call_kw", {"model": model, "method": method, "args": list(args), "kwargs": {}}
            )
        except Exception as error:
            return str(error)
        return None

    def test_attendance_admin_cannot_bind_or_rebind_attendances(self):
        other = self.Attendance.create({"employee_id": self.alice.id, "check_in": utc(f"{self.on(1)} 09:00")})
        self.env.flush_all()
        attacks = [
            ("hr.attendance", "write", [self.attendance.id], {"dingtalk_key": "forged"}),
            ("hr.attendance", "write", [other.id], {"dingtalk_check_in": utc(f"{self.on()} 08:00")}),
            (
                "hr.attendance",
                "create",
                {"employee_id": self.carol.id, "check_in": utc(f"{self.on()} 09:00"), "dingtalk_key": "x"},
            ),
        ]
        for model, method, *args in attacks:
            with self.subTest(method=method, args=args):
                self.assertIn("AccessError", self.rpc(model, method, *args) or "it ran")
        self.assertFalse(other.dingtalk_key)
        # what an officer does every day still works: correcting the times of an imported attendance
        self.assertIsNone(
            self.rpc("hr.attendance", "write", [self.attendance.id], {"check_out": utc(f"{self.on()} 17:00")})
        )
        self.assertEqual(self.attendance.check_out, utc(f"{self.on()} 17:00"))

    def test_attendance_admin_resolves_an_exception_but_cannot_forge_one(self):
        attacks = [
            {"state": "resolved"},
            {"key": self.attendance.dingtalk_key},
            {"employee_id": self.alice.id},
            {"missing": "on"},
        ]
        for vals in attacks:
            with self.subTest(vals=vals):
                self.assertIsNotNone(self.rpc(self.exception._name, "write", [self.exception.id], vals))
        self.assertIsNotNone(
            self.rpc(self.exception._name, "create", {"key": "x", "employee_id": self.bob.id})
        )
        self.assertEqual((self.exception.state, self.exception.employee_id), ("open", self.bob))
        self.assertIsNone(
            self.rpc(
                self.exception._name, "write", [self.exception.id], {"check_out": utc(f"{self.on()} 18:00")}
            )
        )
        self.assertIsNone(self.rpc(self.exception._name, "action_resolve", [self.exception.id]))
        self.assertEqual(self.exception.state, "resolved")
        self.assertEqual(self.attendances(self.bob).check_out, utc(f"{self.on()} 18:00"))

    def test_attendance_admin_queues_a_backfill_but_cannot_forge_a_run(self):
        run = self.env["ziqi.dingtalk.attendance.run"]._queue(self.company, self.day, self.day, "backfill")
        self.env.flush_all()
        self.assertIsNotNone(self.rpc(run._name, "write", [run.id], {"state": "done", "created": 5}))
        self.assertIsNotNone(
            self.rpc(
                run._name,
                "create",
                {
                    "company_id": self.company.id,
                    "trigger": "nightly",
                    "date_from": self.on(),
                    "date_to": self.on(),
                },
            )
        )
        self.assertEqual(run.state, "queued")
        self.assertIsNone(
            self.rpc(
                "ziqi.dingtalk.attendance.backfill", "create", {"date_from": self.on(), "date_to": self.on()}
            )
        )

    def test_signed_punch_event_is_only_a_wake_up(self):
        """A signed event claiming punches DingTalk's API does not know creates nothing: Odoo reads the day
        from attendance/list, where Carol has no shift and Bob still no check-out."""
        check_time = int(utc(f"{self.on()} 18:00").replace(tzinfo=datetime.UTC).timestamp() * 1000)
        forged = {
            "EventType": "attendance_check_record",
            "DataList": [
                {"userId": self.carol.dingtalk_userid, "checkTime": check_time, "checkByUser": True},
                {"userId": self.bob.dingtalk_userid, "checkTime": check_time, "checkByUser": True},
            ],
        }
        self.push_signed(forged, TOKEN, self.aes_key)
        event = self.env["ziqi.dingtalk.event"].search([("event_type", "=", "attendance_check_record")])
        self.assertEqual(event.state, "done", event.result)
        self.assertFalse(self.attendances(self.carol) | self.attendances(self.bob))
        self.assertEqual(self.exception.state, "open")


@tagged("post_install", "-at_install")
class TestAttendanceOfficerScope(AttendanceCase):
    """An attendance officer manages the attendances of the employees they are attendance manager of, as in
    Odoo: the same for DingTalk's exceptions."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        groups = ("base.group_user", "hr_attendance.group_hr_attendance_officer")
        cls.officer = cls.env["res.users"].create(
            {
                "name": "考勤专员",
                "login": "attendance-officer",
                "password": "officer-pass-1",
                USER_GROUPS: [Command.set([cls.env.ref(xmlid).id for xmlid in groups])],
            }
        )
        cls.bob.attendance_manager_id = cls.officer

    def test_officer_sees_and_resolves_only_their_employees_exceptions(self):
        for employee in (self.alice, self.bob):
            self.schedule(employee, NINE_TO_SIX)
            self.punch(employee, f"{self.on()} 09:00")
        self.run_import(self.alice | self.bob)
        alices, bobs = self.exceptions(self.alice), self.exceptions(self.bob)
        as_officer = self.Exception.with_user(self.officer)
        self.assertEqual(as_officer.search([("work_date", "=", self.day)]), bobs)
        end = utc(f"{self.on()} 18:00")
        with self.assertRaises(AccessError):
            alices.with_user(self.officer).write({"check_out": end})
        with self.assertRaises(AccessError):
            alices.with_user(self.officer).action_resolve()
        bobs.with_user(self.officer).write({"check_out": end})
        bobs.with_user(self.officer).action_resolve()
        self.assertEqual(self.attendances(self.bob).check_out, end)
        self.assertFalse(self.attendances(self.alice))
