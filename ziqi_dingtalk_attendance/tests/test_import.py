import datetime

from odoo import fields
from odoo.tests import tagged

from .common import AttendanceCase, utc

NINE_TO_SIX = [["09:00", "18:00"]]


@tagged("post_install", "-at_install")
class TestAttendanceImport(AttendanceCase):
    def test_normal_day_is_one_attendance_in_utc(self):
        self.schedule(self.alice, NINE_TO_SIX)
        self.punch(self.alice, f"{self.on()} 08:55")
        self.punch(self.alice, f"{self.on()} 12:30")  # a punch between the check points changes nothing
        self.punch(self.alice, f"{self.on()} 18:07")
        counts = self.run_import(self.alice)
        attendance = self.attendances(self.alice)
        self.assertEqual(len(attendance), 1)
        self.assertEqual(attendance.check_in, utc(f"{self.on()} 08:55"))
        self.assertEqual(attendance.check_out, utc(f"{self.on()} 18:07"))
        self.assertEqual((attendance.in_mode, attendance.out_mode), ("dingtalk", "dingtalk"))
        self.assertEqual(attendance.dingtalk_work_date, self.day)
        self.assertAlmostEqual(attendance.worked_hours, 9 + 12 / 60, places=2)
        self.assertFalse(self.exceptions(self.alice))
        self.assertEqual(counts["created"], 1)

    def test_second_run_writes_nothing(self):
        self.schedule(self.alice, NINE_TO_SIX)
        self.punch(self.alice, f"{self.on()} 08:58")
        self.punch(self.alice, f"{self.on()} 18:01")
        self.schedule(self.bob, NINE_TO_SIX)
        self.punch(self.bob, f"{self.on()} 09:20")  # no check-out: an exception
        self.run_import(self.alice | self.bob)
        attendance, exception = self.attendances(self.alice), self.exceptions(self.bob)
        stamps = (attendance.write_date, exception.write_date)
        self.env.flush_all()
        self.env.cr.execute("SELECT count(*) FROM hr_attendance")
        before = self.env.cr.fetchone()[0]
        counts = self.run_import(self.alice | self.bob)
        self.env.flush_all()
        self.env.cr.execute("SELECT count(*) FROM hr_attendance")
        self.assertEqual(self.env.cr.fetchone()[0], before)
        self.assertEqual((counts["created"], counts["updated"], counts["exceptions"]), (0, 0, 0))
        self.assertEqual(counts["unchanged"], 2)
        self.assertEqual((attendance.write_date, exception.write_date), stamps)

    def test_missing_checkout_is_an_exception_until_corrected(self):
        self.schedule(self.alice, NINE_TO_SIX)
        self.punch(self.alice, f"{self.on()} 08:50")
        self.run_import(self.alice)
        self.assertFalse(self.attendances(self.alice), "a missing punch never makes an open attendance")
        exception = self.exceptions(self.alice)
        self.assertEqual((exception.missing, exception.state), ("off", "open"))
        self.assertEqual(exception.punched_in, utc(f"{self.on()} 08:50"))
        self.assertEqual(exception.scheduled_out, utc(f"{self.on()} 18:00"))
        # 补卡 approved in DingTalk: the next import completes the shift and resolves the exception
        self.correct(self.alice, "OffDuty", f"{self.on()} 18:00")
        counts = self.run_import(self.alice)
        attendance = self.attendances(self.alice)
        self.assertEqual(
            (attendance.check_in, attendance.check_out),
            (utc(f"{self.on()} 08:50"), utc(f"{self.on()} 18:00")),
        )
        self.assertEqual((exception.state, exception.resolution), ("resolved", "dingtalk"))
        self.assertEqual(exception.attendance_id, attendance)
        self.assertEqual((counts["created"], counts["resolved"]), (1, 1))

    def test_absent_day_and_missing_checkin(self):
        self.schedule(self.alice, NINE_TO_SIX)
        self.schedule(self.bob, NINE_TO_SIX)
        self.punch(self.bob, f"{self.on()} 18:30")
        self.run_import(self.alice | self.bob)
        self.assertEqual(self.exceptions(self.alice).missing, "both")
        self.assertEqual(self.exceptions(self.bob).missing, "on")
        self.assertEqual(self.exceptions(self.bob).punched_out, utc(f"{self.on()} 18:30"))
        self.assertFalse(self.attendances(self.alice) | self.attendances(self.bob))

    def test_night_shift_across_midnight(self):
        self.schedule(self.alice, [["22:00", "06:00"]])
        self.punch(self.alice, f"{self.on()} 21:52")
        self.punch(self.alice, f"{self.on(1)} 06:04")
        self.run_import(self.alice)
        attendance = self.attendances(self.alice)
        self.assertEqual(len(attendance), 1)
        self.assertEqual(attendance.check_in, utc(f"{self.on()} 21:52"))
        self.assertEqual(attendance.check_out, utc(f"{self.on(1)} 06:04"))
        self.assertEqual(attendance.dingtalk_work_date, self.day, "the shift belongs to the day it started")

    def test_several_shifts_a_day(self):
        self.schedule(self.alice, [["09:00", "12:00"], ["13:30", "18:00"]])
        for local in ("08:57", "12:02", "13:25", "18:10"):
            self.punch(self.alice, f"{self.on()} {local}")
        self.schedule(self.bob, [["09:00", "12:00"], ["13:30", "18:00"]])
        for local in ("08:57", "12:02", "13:25"):  # forgot the last one
            self.punch(self.bob, f"{self.on()} {local}")
        self.run_import(self.alice | self.bob)
        self.assertEqual(
            [(a.check_in, a.check_out) for a in self.attendances(self.alice)],
            [
                (utc(f"{self.on()} 08:57"), utc(f"{self.on()} 12:02")),
                (utc(f"{self.on()} 13:25"), utc(f"{self.on()} 18:10")),
            ],
        )
        self.assertEqual(len(self.attendances(self.bob)), 1)
        self.assertEqual(self.exceptions(self.bob).missing, "off")
        self.assertEqual(self.exceptions(self.bob).punched_in, utc(f"{self.on()} 13:25"))

    def test_late_change_in_dingtalk_and_hr_correction_in_odoo(self):
        self.schedule(self.alice, NINE_TO_SIX)
        self.punch(self.alice, f"{self.on()} 09:00")
        self.punch(self.alice, f"{self.on()} 18:00")
        self.run_import(self.alice)
        attendance = self.attendances(self.alice)
        # HR corrects the check-out in Odoo; DingTalk has said nothing new: the correction stays
        attendance.check_out = utc(f"{self.on()} 17:30")
        self.run_import(self.alice)
        self.assertEqual(attendance.check_out, utc(f"{self.on()} 17:30"))
        # an admin changes the punch in DingTalk days later: DingTalk's new time replaces it
        self.change(self.alice, "OffDuty", f"{self.on()} 19:00")
        self.run_import(self.alice)
        self.assertEqual(attendance.check_out, utc(f"{self.on()} 19:00"))
        # and withdraws it: the attendance DingTalk made goes, an exception takes its place
        self.change(self.alice, "OffDuty", None)
        counts = self.run_import(self.alice)
        self.assertFalse(attendance.exists())
        self.assertEqual(self.exceptions(self.alice).missing, "off")
        self.assertEqual(counts["removed"], 1)

    def test_overlap_with_odoo_attendance_is_an_exception(self):
        self.Attendance.create(
            {
                "employee_id": self.alice.id,
                "check_in": utc(f"{self.on()} 10:00"),
                "check_out": utc(f"{self.on()} 11:00"),
            }
        )
        self.schedule(self.alice, NINE_TO_SIX)
        self.punch(self.alice, f"{self.on()} 09:00")
        self.punch(self.alice, f"{self.on()} 18:00")
        self.schedule(self.bob, NINE_TO_SIX)
        self.punch(self.bob, f"{self.on()} 09:00")
        self.punch(self.bob, f"{self.on()} 18:00")
        counts = self.run_import(self.alice | self.bob)
        self.assertEqual(len(self.attendances(self.alice)), 1, "only the one recorded in Odoo")
        self.assertEqual(self.exceptions(self.alice).missing, "conflict")
        self.assertTrue(self.exceptions(self.alice).detail)
        self.assertEqual(len(self.attendances(self.bob)), 1, "the others of the batch are imported")
        self.assertEqual(counts["conflicts"], 1)

    def test_hr_resolves_exception_and_later_correction_updates_it(self):
        self.schedule(self.alice, NINE_TO_SIX)
        self.punch(self.alice, f"{self.on()} 09:00")
        self.run_import(self.alice)
        exception = self.exceptions(self.alice)
        exception.check_out = utc(f"{self.on()} 17:45")
        exception.action_resolve()
        attendance = self.attendances(self.alice)
        self.assertEqual(attendance.check_out, utc(f"{self.on()} 17:45"))
        self.assertEqual((exception.state, exception.resolution), ("resolved", "manual"))
        self.run_import(self.alice)
        self.assertEqual(len(self.attendances(self.alice)), 1, "a re-read keeps what HR recorded")
        self.correct(self.alice, "OffDuty", f"{self.on()} 18:00")
        self.run_import(self.alice)
        self.assertEqual(self.attendances(self.alice), attendance)
        self.assertEqual(attendance.check_out, utc(f"{self.on()} 18:00"))

    def test_gap_of_a_shift_still_open_is_pending(self):
        today = fields.Date.today()
        days = (today - self.day).days
        self.schedule(self.alice, [["00:00", "23:59"]], days=days)
        counts = self.run_import(self.alice, first=days, last=days)
        self.assertFalse(self.exceptions(self.alice))
        self.assertEqual(counts["pending"], 1)

    def test_backfill_over_more_than_a_week(self):
        for offset in (-8, -4, 0):
            self.schedule(self.carol, NINE_TO_SIX, days=offset)
            self.punch(self.carol, f"{self.on(offset)} 09:00")
            self.punch(self.carol, f"{self.on(offset)} 18:00")
        self.sandbox.control("stats/reset", {})
        wizard = self.env["ziqi.dingtalk.attendance.backfill"].create(
            {"date_from": self.day - datetime.timedelta(days=8), "date_to": self.day}
        )
        run = self.env["ziqi.dingtalk.attendance.run"].browse(wizard.action_import()["res_id"])
        self.assertEqual(run.state, "queued")
        # the cron imports a run a week at a time: 9 days are two steps
        self.env["ziqi.dingtalk.attendance.run"]._cron_process()
        self.assertEqual((run.state, run.next_date), ("running", self.day - datetime.timedelta(days=1)))
        self.env["ziqi.dingtalk.attendance.run"]._cron_process()
        self.assertEqual(run.state, "done", run.error)
        self.assertEqual(len(self.attendances(self.carol)), 3)
        self.assertGreaterEqual(run.created, 3)
        # 9 days of ≤ 50 people: two windows of at most 7 days, one page each
        self.assertEqual(self.sandbox.answered("/attendance/list"), 2)

    def test_leaver_keeps_earlier_days(self):
        for offset in (0, 2):
            self.schedule(self.dave, NINE_TO_SIX, days=offset)
            self.punch(self.dave, f"{self.on(offset)} 09:00")
            self.punch(self.dave, f"{self.on(offset)} 18:00")
        # Dave leaves the day after self.day: DingTalk keeps his earlier results, has none after
        self.sandbox.control("mutate", {"op": "remove_user", "userid": self.dave.dingtalk_userid})
        self.sandbox.control("attendance/left", {"userid": self.dave.dingtalk_userid, "date": self.on(1)})
        self.env["ziqi.dingtalk.sync.run"]._queue(self.company, "all")._run_to_end()
        self.assertFalse(self.dave.active, "the leaver is archived by the directory sync")
        run = self.env["ziqi.dingtalk.attendance.run"]._queue(
            self.company, self.day, self.day + datetime.timedelta(days=2), "backfill"
        )
        run._run()
        self.assertEqual(run.state, "done", run.error)
        self.assertEqual(self.attendances(self.dave).mapped("dingtalk_work_date"), [self.day])

    def test_punch_events_bring_the_day_up_to_date(self):
        self.schedule(self.alice, NINE_TO_SIX)
        before = len(self.held_events())
        self.punch(self.alice, f"{self.on()} 08:59")
        self.punch(self.alice, f"{self.on()} 18:03")
        events = self.held_events()[before:]
        self.assertEqual(
            [e.get("EventType") or e.get("eventType") for e in events], ["attendance_check_record"] * 2
        )
        self.deliver(events)
        attendance = self.attendances(self.alice)
        self.assertEqual(len(attendance), 1)
        self.assertEqual(attendance.check_out, utc(f"{self.on()} 18:03"))
        inbox = self.env["ziqi.dingtalk.event"].search([("event_type", "=", "attendance_check_record")])
        self.assertEqual(set(inbox.mapped("state")), {"done"})

    def test_schedule_change_event_reads_the_changed_day_again(self):
        self.schedule(self.alice, NINE_TO_SIX)
        self.punch(self.alice, f"{self.on()} 09:00")
        self.punch(self.alice, f"{self.on()} 18:00")
        self.run_import(self.alice)
        # an evening section is added to the day in DingTalk (排班变更) and worked: the schedule-change event
        # makes Odoo read the day again
        before = len(self.held_events())
        self.schedule(self.alice, [["09:00", "18:00"], ["20:00", "23:00"]])
        self.punch(self.alice, f"{self.on()} 20:00")
        self.punch(self.alice, f"{self.on()} 23:05")
        changes = [e for e in self.held_events()[before:] if e["EventType"] == "attendance_schedule_change"]
        self.assertEqual(len(changes), 1)
        self.deliver(changes)
        self.assertEqual(len(self.attendances(self.alice)), 2)
        self.assertEqual(self.attendances(self.alice)[1].check_out, utc(f"{self.on()} 23:05"))

    def test_nightly_job_queues_yesterday_and_the_days_before(self):
        self.company.dingtalk_attendance_reread_days = 2
        self.env["ziqi.dingtalk.attendance.run"]._cron_nightly()
        run = self.env["ziqi.dingtalk.attendance.run"].search(
            [("company_id", "=", self.company.id), ("trigger", "=", "nightly")], limit=1
        )
        today = fields.Date.context_today(run.with_context(tz="Asia/Shanghai"))
        yesterday = today - datetime.timedelta(days=1)
        self.assertEqual((run.date_from, run.date_to), (yesterday - datetime.timedelta(days=2), yesterday))
        self.assertEqual(run.state, "queued", "run by the import cron, woken at once")
        self.env["ziqi.dingtalk.attendance.run"]._cron_process()
        self.assertEqual(run.state, "done", run.error)

    def test_dingtalk_failure_fails_the_run_alone_and_retry_imports(self):
        self.schedule(self.alice, NINE_TO_SIX)
        self.punch(self.alice, f"{self.on()} 09:00")
        self.punch(self.alice, f"{self.on()} 18:00")
        Run = self.env["ziqi.dingtalk.attendance.run"]
        failing = Run._queue(self.company, self.day, self.day, "backfill")
        self.sandbox.control("faults", {"path": "/attendance/list", "errcode": 60011, "count": 1})
        self.addCleanup(self.sandbox.control, "faults/clear", {})
        Run._cron_process()
        self.assertEqual(failing.state, "failed")
        self.assertTrue(failing.error)
        self.assertFalse(self.attendances(self.alice))
        following = Run._queue(self.company, self.day, self.day, "backfill")
        Run._cron_process()
        self.assertEqual(following.state, "done", "a failed run does not stop the others")
        failing.action_retry()
        Run._cron_process()
        self.assertEqual((failing.state, failing.error, failing.created), ("done", False, 0))
        self.assertEqual(len(self.attendances(self.alice)), 1)

    def test_no_exception_during_time_off(self):
        self.schedule(self.alice, NINE_TO_SIX)  # no punch: on leave, as Odoo knows it
        self.schedule(self.bob, NINE_TO_SIX)
        self.env["resource.calendar.leaves"].create(
            {
                "name": "年假",
                "resource_id": self.alice.resource_id.id,
                "calendar_id": self.alice.resource_calendar_id.id,
                "date_from": utc(f"{self.on()} 00:00"),
                "date_to": utc(f"{self.on()} 23:59"),
            }
        )
        counts = self.run_import(self.alice | self.bob)
        self.assertFalse(self.exceptions(self.alice))
        self.assertEqual(self.exceptions(self.bob).missing, "both", "Bob was not on leave")
        self.assertEqual(counts["on_leave"], 1)
