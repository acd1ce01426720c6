"""Test helpers for DingTalk leave: a sandbox whose directory is synced, its leave events held back, and
Odoo time off types mapped to the sandbox's default DingTalk leave types."""

import datetime

from odoo.addons.ziqi_dingtalk.dingtalk.events import parse_event
from odoo.addons.ziqi_dingtalk.tests.common import DingTalkHttpCase

from ..compat import requires_allocation_value

ANNUAL, PERSONAL, SICK, LIEU = "LEAVE-ANNUAL", "LEAVE-PERSONAL", "LEAVE-SICK", "LEAVE-LIEU"
BEIJING = datetime.timedelta(hours=8)


class LeaveCase(DingTalkHttpCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.env["ziqi.dingtalk.sync.run"]._queue(cls.company, "all")._run_to_end()
        cls.sandbox.control("attendance/config", {"hold_events": True})
        org = cls.sandbox.control("org")
        cls.admin_userid = next(u["userid"] for u in org["users"] if u.get("admin") and not u.get("left"))
        cls.company.sudo().dingtalk_leave_admin_userid = cls.admin_userid
        cls.LeaveType = cls.env["ziqi.dingtalk.leave.type"]
        cls.Row = cls.env["ziqi.dingtalk.leave"]
        cls.importer = cls.env["ziqi.dingtalk.leave.importer"]
        cls.LeaveType._refresh_company(cls.company)
        cls.odoo_day = cls.time_off_type("Paid Time Off (DingTalk)", "day")
        cls.odoo_hour = cls.time_off_type("Personal (DingTalk)", "hour")
        cls.dt_type(ANNUAL).holiday_status_id = cls.odoo_day
        cls.dt_type(PERSONAL).holiday_status_id = cls.odoo_hour
        # each test its own people (the sandbox keeps its leave from one test to the next)
        cls.people = cls.env["hr.employee"].search(
            [("company_id", "=", cls.company.id), ("dingtalk_userid", "!=", False)], order="id"
        )
        cls.today = datetime.date.today()

    @classmethod
    def time_off_type(cls, name, unit, allocation=False):
        return cls.env["hr.leave.type"].create(
            {
                "name": name,
                "request_unit": unit,
                "requires_allocation": requires_allocation_value(allocation),
                "company_id": cls.company.id,
            }
        )

    @classmethod
    def dt_type(cls, code):
        return cls.LeaveType.search([("company_id", "=", cls.company.id), ("leave_code", "=", code)])

    # --- DingTalk's side ---

    def local(self, days, hour_minute):
        """The sandbox's local time text of ``today + days`` at ``hour_minute`` ("09:00")."""
        return f"{self.today + datetime.timedelta(days=days):%Y-%m-%d} {hour_minute}"

    def utc(self, days, hour_minute):
        """Naive UTC of the same moment, as Odoo stores it."""
        return datetime.datetime.strptime(self.local(days, hour_minute), "%Y-%m-%d %H:%M") - BEIJING

    def approve(self, employee, code, start, end, duration):
        """``employee``'s leave approved in DingTalk; ``start``/``end`` are (days from today, "HH:MM")."""
        return self.sandbox.control(
            "leave/approve",
            {
                "userid": employee.dingtalk_userid,
                "leave_code": code,
                "start": self.local(*start),
                "end": self.local(*end),
                "duration_percent": round(duration * 100),
            },
        )

    def sync(self, *employees):
        userids = [employee.dingtalk_userid for employee in employees]
        return self.importer._sync_leaves(self.company, userids, *self.importer._window())

    def rows(self, employee):
        return self.Row.search([("employee_id", "=", employee.id)], order="id")

    def held_events(self, process_instance_id):
        events = self.sandbox.control("attendance/events?held=1", method="GET")["events"]
        return [e for e in events if e.get("processInstanceId") == process_instance_id]

    def deliver(self, events):
        """Store the events in the inbox as a push would, and apply them."""
        Event = self.env["ziqi.dingtalk.event"]
        for payload in events:
            Event._store(self.company, parse_event(dict(payload)))
        Event._cron_process()
