"""The import of the leave approved in DingTalk (the sandbox) into Odoo time off, through the cron's
service, the events of the inbox and the type mapping."""

import datetime

from odoo import Command
from odoo.addons.ziqi_dingtalk.compat import USER_GROUPS
from odoo.exceptions import AccessError, UserError
from odoo.tests import tagged
from odoo.tools import SQL

from .common import ANNUAL, LIEU, PERSONAL, SICK, LeaveCase


@tagged("post_install", "-at_install")
class TestLeaveImport(LeaveCase):
    def ctids(self, records):
        """The physical row of each record: an UPDATE moves it, so an unchanged ctid means no write."""
        self.env.flush_all()
        self.env.cr.execute(
            SQL("SELECT id, ctid FROM %s WHERE id = ANY(%s)", SQL.identifier(records._table), records.ids)
        )
        return dict(self.env.cr.fetchall())

    def test_types_are_read_from_dingtalk(self):
        codes = set(self.LeaveType.search([("company_id", "=", self.company.id)]).mapped("leave_code"))
        self.assertTrue({ANNUAL, PERSONAL, SICK, LIEU} <= codes)
        annual = self.dt_type(ANNUAL)
        self.assertEqual((annual.name, annual.unit, annual.hours_per_day), ("年假", "day", 8.0))
        self.assertEqual(self.dt_type(LIEU).biz_type, "lieu_leave")
        self.sandbox.control("leave/types", {"types": [{"leave_code": ANNUAL, "leave_name": "年假"}]})
        self.addCleanup(
            self.sandbox.control,
            "leave/types",
            {
                "types": [
                    {"leave_code": ANNUAL, "leave_name": "年假", "leave_view_unit": "day"},
                    {"leave_code": PERSONAL, "leave_name": "事假", "leave_view_unit": "hour"},
                    {"leave_code": SICK, "leave_name": "病假", "leave_view_unit": "halfDay"},
                    {
                        "leave_code": LIEU,
                        "leave_name": "调休",
                        "leave_view_unit": "hour",
                        "biz_type": "lieu_leave",
                    },
                ]
            },
        )
        self.LeaveType._refresh_company(self.company)
        self.assertFalse(self.dt_type(LIEU), "a type DingTalk no longer lists is archived")
        self.assertEqual(self.dt_type(ANNUAL).holiday_status_id, self.odoo_day, "the mapping is kept")

    def test_types_need_an_administrator(self):
        self.company.sudo().dingtalk_leave_admin_userid = False
        with self.assertRaisesRegex(UserError, "administrator"):
            self.LeaveType._refresh_company(self.company)
        not_admin = self.people.filtered(lambda e: e.dingtalk_userid != self.admin_userid)[0]
        self.company.sudo().dingtalk_leave_admin_userid = not_admin.dingtalk_userid
        with self.assertRaisesRegex(UserError, "refused"):
            self.LeaveType._refresh_company(self.company)

    def test_day_leave_becomes_validated_time_off(self):
        employee = self.people[0]
        self.approve(employee, ANNUAL, (5, "09:00"), (6, "18:00"), 2)
        report = self.sync(employee)
        row = self.rows(employee)
        self.assertEqual(row.state, "imported", row.message)
        self.assertEqual(report.counts["imported"], 1)
        leave = row.leave_id
        self.assertEqual(leave.state, "validate")
        self.assertEqual(leave.holiday_status_id, self.odoo_day)
        self.assertEqual((leave.date_from, leave.date_to), (self.utc(5, "09:00"), self.utc(6, "18:00")))
        self.assertEqual(leave.number_of_days, 2)
        self.assertEqual(leave.sudo().dingtalk_leave_id, row)
        self.assertFalse(
            self.env["mail.mail"].search([("model", "=", "hr.leave"), ("res_id", "=", leave.id)]),
            "the employee gets no mail",
        )

    def test_dates_are_counted_in_the_organisations_time_zone(self):
        """The leave's days are its DingTalk days in the company's DingTalk time zone (Settings): a leave
        from 06:00 to 18:00 in Beijing starts the day before in London."""
        employee = self.people[13]
        self.company.sudo().dingtalk_timezone = "Europe/London"
        self.approve(employee, ANNUAL, (5, "06:00"), (5, "18:00"), 1)
        self.sync(employee)
        leave = self.rows(employee).leave_id
        self.assertEqual((leave.date_from, leave.date_to), (self.utc(5, "06:00"), self.utc(5, "18:00")))
        day = self.today + datetime.timedelta(days=5)
        self.assertEqual(
            (leave.request_date_from, leave.request_date_to), (day - datetime.timedelta(days=1), day)
        )

    def test_hour_leave_counts_dingtalk_hours(self):
        employee = self.people[1]
        self.approve(employee, PERSONAL, (7, "09:00"), (7, "12:30"), 3.5)
        self.sync(employee)
        leave = self.rows(employee).leave_id
        self.assertEqual(leave.state, "validate")
        self.assertAlmostEqual(leave.number_of_hours, 3.5)
        self.assertEqual((leave.date_from, leave.date_to), (self.utc(7, "09:00"), self.utc(7, "12:30")))

    def test_revoked_leave_is_cancelled(self):
        employee = self.people[2]
        answer = self.approve(employee, ANNUAL, (8, "09:00"), (8, "18:00"), 1)
        self.sync(employee)
        leave = self.rows(employee).leave_id
        self.sandbox.control("leave/revoke", {"id": answer["id"]})
        report = self.sync(employee)
        self.assertEqual(report.counts["revoked"], 1)
        self.assertEqual(self.rows(employee).state, "revoked")
        self.assertEqual(leave.state, "cancel")

    def test_changed_leave_cancels_the_old_and_imports_the_new(self):
        employee = self.people[3]
        answer = self.approve(employee, ANNUAL, (9, "09:00"), (9, "18:00"), 1)
        self.sync(employee)
        old = self.rows(employee)
        self.sandbox.control(
            "leave/change", {"id": answer["id"], "end": self.local(10, "18:00"), "duration_percent": 200}
        )
        self.sync(employee)
        old_row, new_row = self.rows(employee)
        self.assertEqual(old_row, old)
        self.assertEqual((old_row.state, old_row.leave_id.state), ("revoked", "cancel"))
        self.assertEqual((new_row.state, new_row.leave_id.state), ("imported", "validate"))
        self.assertEqual(new_row.leave_id.number_of_days, 2)
        self.assertEqual(new_row.leave_id.date_to, self.utc(10, "18:00"))

    def test_unmapped_type_waits_then_mapping_imports_it(self):
        employee = self.people[4]
        self.approve(employee, LIEU, (11, "14:00"), (11, "16:00"), 2)
        self.sync(employee)
        row = self.rows(employee)
        self.assertEqual(row.state, "unmapped")
        self.assertFalse(row.leave_id)
        self.dt_type(LIEU).holiday_status_id = self.time_off_type("Lieu (DingTalk)", "hour")
        self.assertEqual(row.state, "imported", row.message)
        self.assertAlmostEqual(row.leave_id.number_of_hours, 2)

    def test_rerun_writes_nothing(self):
        employee = self.people[5]
        self.approve(employee, ANNUAL, (12, "09:00"), (12, "18:00"), 1)
        self.approve(employee, LIEU, (13, "09:00"), (13, "11:00"), 2)  # unmapped: waits
        self.sync(employee)
        rows = self.rows(employee)
        before = (self.ctids(rows), self.ctids(rows.leave_id), self.env["hr.leave"].search_count([]))
        report = self.sync(employee)
        after = (self.ctids(rows), self.ctids(rows.leave_id), self.env["hr.leave"].search_count([]))
        self.assertEqual(before, after)
        self.assertEqual(report.counts["imported"] + report.counts["revoked"], 0)

    def test_allocation_required_fails_then_allocate_tops_up(self):
        employee = self.people[6]
        limited = self.time_off_type("Sick (DingTalk)", "day", allocation=True)
        sick = self.dt_type(SICK)
        sick.holiday_status_id = limited
        self.approve(employee, SICK, (14, "09:00"), (15, "13:00"), 1.5)
        self.sync(employee)
        row = self.rows(employee)
        self.assertEqual(row.state, "failed")
        self.assertIn("allocation", row.message)
        self.assertFalse(self.env["hr.leave"].search([("employee_id", "=", employee.id)]))
        Allocation = self.env["hr.leave.allocation"]
        self.assertFalse(Allocation.search([("employee_id", "=", employee.id)]), "nothing half-created")
        sick.allocate = True
        self.assertEqual(row.state, "imported", row.message)
        allocation = Allocation.search([("employee_id", "=", employee.id)])
        self.assertEqual((allocation.state, allocation.number_of_days), ("validate", 1.5))
        self.assertEqual(row.leave_id.state, "validate")
        self.assertEqual(row.leave_id.number_of_days, 1.5)

    def test_overlapping_time_off_fails_with_odoo_reason(self):
        employee = self.people[7]
        self.env["hr.leave"].create(
            {
                "employee_id": employee.id,
                "holiday_status_id": self.odoo_day.id,
                "request_date_from": self.utc(16, "09:00").date(),
                "request_date_to": self.utc(16, "09:00").date(),
            }
        )
        self.approve(employee, ANNUAL, (16, "09:00"), (16, "18:00"), 1)
        self.sync(employee)
        row = self.rows(employee)
        self.assertEqual(row.state, "failed")
        self.assertTrue(row.message)

    def test_leave_event_imports_the_originators_leave(self):
        employee = self.people[8]
        answer = self.approve(employee, ANNUAL, (17, "09:00"), (17, "18:00"), 1)
        events = self.held_events(answer["process_instance_id"])
        self.assertTrue(events)
        self.deliver(events)
        row = self.rows(employee)
        self.assertEqual((row.state, row.leave_id.state), ("imported", "validate"))
        inbox = self.env["ziqi.dingtalk.event"].search(
            [("event_type", "=", "attendance_approve_status_change")]
        )
        self.assertEqual(set(inbox.mapped("state")), {"done"}, inbox.mapped("last_error"))
        self.sandbox.control("leave/revoke", {"id": answer["id"]})
        self.deliver(self.held_events(answer["process_instance_id"])[len(events) :])
        self.assertEqual((row.state, row.leave_id.state), ("revoked", "cancel"))

    def test_other_approvals_are_skipped(self):
        Event = self.env["ziqi.dingtalk.event"]
        event = {
            "EventType": "attendance_approve_status_change",
            "approveType": "BUSINESS_TRIP",
            "processInstanceId": "other-instance",
            "status": "finish",
            "eventId": "other-approval-1",
        }
        self.deliver([event])
        stored = Event.search([("event_type", "=", "attendance_approve_status_change")])
        self.assertEqual(stored.state, "skipped")

    def test_archived_employee_leave_is_still_imported(self):
        employee = self.people[9]
        self.approve(employee, ANNUAL, (-3, "09:00"), (-3, "18:00"), 1)
        employee.active = False  # left after the leave
        self.env["ziqi.dingtalk.leave"]._cron_import()
        row = self.rows(employee).with_context(active_test=False)
        self.assertEqual((row.state, row.leave_id.state), ("imported", "validate"), row.message)

    def test_leaver_removed_in_dingtalk_keeps_the_leave_imported(self):
        """DingTalk stops listing a leaver's leave because they left: that revokes nothing."""
        employee = self.people[12]
        self.approve(employee, ANNUAL, (-4, "09:00"), (-4, "18:00"), 1)
        self.env["ziqi.dingtalk.leave"]._cron_import()
        row = self.rows(employee)
        self.assertEqual(row.state, "imported", row.message)
        self.sandbox.control("mutate", {"op": "remove_user", "userid": employee.dingtalk_userid})
        self.env["ziqi.dingtalk.sync.run"]._queue(self.company, "all")._run_to_end()
        self.assertFalse(employee.active)
        # the sandbox forgets nothing of a leaver: make DingTalk list no leave for them, as a leaver's
        for leave in self.sandbox.control("leave/list")["leaves"]:
            if leave["userid"] == employee.dingtalk_userid and leave["state"] == "approved":
                self.sandbox.control("leave/revoke", {"id": leave["id"], "push": False})
        self.env["ziqi.dingtalk.leave"]._cron_import()
        self.assertEqual((row.state, row.leave_id.state), ("imported", "validate"))

    def test_time_off_manager_maps_but_cannot_rewrite_dingtalk_fields(self):
        manager = self.env["res.users"].create(
            {
                "name": "假期管理员",
                "login": "time-off-manager",
                USER_GROUPS: [
                    Command.set(
                        [
                            self.env.ref(x).id
                            for x in ("base.group_user", "hr_holidays.group_hr_holidays_manager")
                        ]
                    )
                ],
            }
        )
        dt_type = self.dt_type(SICK).with_user(manager)
        for vals in ({"leave_code": "LEAVE-ANNUAL"}, {"hours_per_day": 1.0}, {"company_id": self.company.id}):
            with self.subTest(vals=vals), self.assertRaises(AccessError):
                dt_type.write(vals)
        dt_type.write({"holiday_status_id": self.odoo_day.id})
        self.assertEqual(self.dt_type(SICK).holiday_status_id, self.odoo_day)

    def test_refresh_wizard_keeps_the_administrator(self):
        self.company.sudo().dingtalk_leave_admin_userid = False
        Wizard = self.env["ziqi.dingtalk.leave.type.refresh"]
        with self.assertRaisesRegex(UserError, "refused"):
            Wizard.create({"admin_userid": "not-an-admin"}).action_refresh()
        wizard = Wizard.create({"admin_userid": f" {self.admin_userid} "})
        action = wizard.action_refresh()
        self.assertEqual(action["res_model"], "ziqi.dingtalk.leave.type")
        self.assertEqual(self.company.sudo().dingtalk_leave_admin_userid, self.admin_userid)
