import collections

from odoo import models
from odoo.addons.ziqi_dingtalk.dingtalk.attendance_events import check_record_days, schedule_change_days


class ZiqiDingtalkEvent(models.Model):
    """The attendance events of the inbox [KB:EV/0125, EV/0261]: a punch, a correction or a schedule change
    names people and a time; their work days are read again from attendance/list at once (an event's own
    words are never applied), so Odoo is up to date minutes after the punch."""

    _inherit = "ziqi.dingtalk.event"

    def _handle_attendance_check_record(self, client, report):
        return self._import_attendance_days(
            check_record_days(self.data or {}, self.company_id.dingtalk_timezone)
        )

    def _handle_attendance_schedule_change(self, client, report):
        return self._import_attendance_days(
            schedule_change_days(self.data or {}, self.company_id.dingtalk_timezone)
        )

    def _import_attendance_days(self, days):
        """``days``: (userid, date) pairs; the people whose days span the same dates are read together."""
        if not days:
            return "skipped", "no person or day"
        wanted = collections.defaultdict(set)
        for userid, day in days:
            wanted[userid].add(day)
        employees = (
            self.env["hr.employee"]
            .sudo()
            .with_context(active_test=False)
            .search([("company_id", "=", self.company_id.id), ("dingtalk_userid", "in", list(wanted))])
        )
        if not employees:
            return "skipped", "nobody bound in Odoo"
        counts, spans = collections.Counter(), collections.defaultdict(lambda: employees.browse())
        for employee in employees:
            dates = wanted[employee.dingtalk_userid]
            spans[(min(dates), max(dates))] |= employee
        importer = self.env["ziqi.dingtalk.attendance.importer"]
        for (first, last), people in spans.items():  # people of one span: 50 a call
            importer._import(self.company_id, people, first, last, counts)
        figures = ", ".join(
            f"{name} {counts[name]}" for name in ("created", "updated", "exceptions", "resolved")
        )
        return "done", f"attendance re-read for {len(employees)} employee(s): {figures}"
