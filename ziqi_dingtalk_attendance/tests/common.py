"""Test helpers for DingTalk attendance: a sandbox whose directory is synced and whose attendance events are
held back (a test delivers them to the inbox itself); schedules and punches set through its control API.
Times are the organisation's (Asia/Shanghai) wall times, ``"YYYY-MM-DD HH:MM"``."""

import collections
import datetime

from odoo import fields
from odoo.addons.ziqi_dingtalk.dingtalk.events import parse_event
from odoo.addons.ziqi_dingtalk.tests.common import DingTalkHttpCase

BEIJING = datetime.timedelta(hours=8)
DAYS_PER_TEST = 9  # a test uses its day, the day after it and up to 8 days before it


def utc(local):
    """The naive UTC datetime Odoo stores for a Beijing wall time ``"YYYY-MM-DD HH:MM"``."""
    return datetime.datetime.strptime(local, "%Y-%m-%d %H:%M") - BEIJING


class AttendanceCase(DingTalkHttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.env["ziqi.dingtalk.sync.run"]._queue(cls.company, "all")._run_to_end()
        cls.sandbox.control("attendance/config", {"hold_events": True})
        employees = cls.env["hr.employee"].search(
            [("company_id", "=", cls.company.id), ("dingtalk_userid", "!=", False)], order="id"
        )
        cls.alice, cls.bob, cls.carol = employees[:3]
        cls.Attendance = cls.env["hr.attendance"]
        cls.Exception = cls.env["ziqi.dingtalk.attendance.exception"]
        cls.dave = employees[3]
        cls.days_used = 0

    def setUp(self):
        super().setUp()
        # each test its own work days (the sandbox keeps its punches from one test to the next), all settled
        # (no punch can still come), within the half year attendance/list answers for [KB:API/0195]
        type(self).days_used += DAYS_PER_TEST
        self.day = fields.Date.today() - datetime.timedelta(days=10 + self.days_used)

    def on(self, days=0):
        """``self.day`` + ``days`` as ``YYYY-MM-DD``."""
        return str(self.day + datetime.timedelta(days=days))

    def schedule(self, employee, sections, days=0):
        return self.sandbox.control(
            "attendance/schedule",
            {"userid": employee.dingtalk_userid, "date": self.on(days), "sections": sections},
        )["checkpoints"]

    def punch(self, employee, local):
        return self.sandbox.control("attendance/punch", {"userid": employee.dingtalk_userid, "time": local})

    def correct(self, employee, check_type, local, days=0, index=0):
        body = {"userid": employee.dingtalk_userid, "date": self.on(days), "check_type": check_type}
        return self.sandbox.control("attendance/correct", dict(body, index=index, time=local))

    def change(self, employee, check_type, local, days=0, index=0):
        body = {"userid": employee.dingtalk_userid, "date": self.on(days), "check_type": check_type}
        return self.sandbox.control("attendance/change", dict(body, index=index, time=local))

    def run_import(self, employees, first=0, last=0):
        counts = collections.Counter()
        self.env["ziqi.dingtalk.attendance.importer"]._import(
            self.company,
            employees,
            self.day + datetime.timedelta(days=first),
            self.day + datetime.timedelta(days=last),
            counts,
        )
        return counts

    def attendances(self, employee):
        return self.Attendance.with_context(active_test=False).search(
            [("employee_id", "=", employee.id)], order="check_in"
        )

    def exceptions(self, employee):
        return self.Exception.search([("employee_id", "=", employee.id)], order="scheduled_in")

    def held_events(self):
        return self.sandbox.control("attendance/events?held=1", method="GET")["events"]

    def deliver(self, events):
        """Store the events in the inbox as a push would, and apply them."""
        Event = self.env["ziqi.dingtalk.event"]
        for payload in events:
            Event._store(self.company, parse_event(dict(payload)))
        Event._cron_process()
