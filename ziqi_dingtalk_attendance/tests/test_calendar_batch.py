"""The import's shortcuts through Odoo's per-attendance work give Odoo's own answers: the calendar batch's
cut intervals equal Odoo's for the same calls, and attendances imported with it have the worked hours and
overtime Odoo computes for them without it."""

import datetime
import itertools
from unittest.mock import patch

from pytz import timezone, utc

from odoo.addons.ziqi_dingtalk.compat import ODOO_19
from odoo.exceptions import ValidationError
from odoo.tests import tagged

from ..models import hr_attendance as attendance_model
from ..models.hr_attendance import importing
from ..models.hr_employee import VERSION_BATCH, VersionBatch
from ..models.overtime_batch import only_known_overrides
from ..models.resource_calendar import CALENDAR_BATCH, CalendarBatch
from .common import AttendanceCase
from .common import utc as beijing_utc

SHANGHAI = timezone("Asia/Shanghai")
DAY = datetime.timedelta(days=1)
SHANGHAI_OFFSET = datetime.timedelta(hours=8)


def flat(intervals_by_id):
    """Comparable form of ``{resource id: intervals}``: bounds with their zone, and record ids."""
    return {
        key: [
            (start, start.tzinfo.zone, stop, stop.tzinfo.zone, recs._name, recs.ids)
            for start, stop, recs in value
        ]
        for key, value in intervals_by_id.items()
    }


@tagged("post_install", "-at_install")
class TestCalendarBatch(AttendanceCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        Calendar = cls.env["resource.calendar"]
        cls.standard = cls.company.resource_calendar_id
        cls.standard.tz = "Asia/Shanghai"
        # a second schedule in another zone, with a lunch and an evening part
        cls.utc_calendar = Calendar.create(
            {
                "name": "UTC shifts",
                "tz": "UTC",
                "company_id": cls.company.id,
                "attendance_ids": [
                    (
                        0,
                        0,
                        {
                            "name": f"{day} {period}",
                            "dayofweek": str(day),
                            "hour_from": start,
                            "hour_to": stop,
                            "day_period": period,
                        },
                    )
                    for day in range(6)
                    for period, start, stop in (
                        ("morning", 6, 11),
                        ("lunch", 11, 11.5),
                        ("afternoon", 11.5, 15),
                    )
                ],
            }
        )
        cls.flexible = Calendar.create(
            {"name": "Flexible", "company_id": cls.company.id, "flexible_hours": True, "hours_per_day": 8}
        )
        cls.alice.resource_calendar_id = cls.standard
        cls.bob.resource_calendar_id = cls.utc_calendar
        cls.bob.resource_id.tz = "UTC"
        cls.carol.resource_calendar_id = cls.flexible
        cls.dave.resource_calendar_id = cls.standard
        cls.people = cls.alice | cls.bob | cls.carol | cls.dave
        if "version_id" in cls.people._fields:  # Odoo 19: overtime only on days the employee's version covers
            cls.people.version_id.write({"date_version": "2020-01-01"})

    def leaves(self):
        """Dave away one afternoon, in two leaves that touch; a public holiday on the standard schedule the
        day after."""
        Leave = self.env["resource.calendar.leaves"]
        touching = (("Dave's afternoon", "14:00", "16:00"), ("Dave's errand", "16:00", "17:00"))
        for name, start, stop in touching:
            Leave.create(
                {
                    "name": name,
                    "resource_id": self.dave.resource_id.id,
                    "calendar_id": self.standard.id,
                    "date_from": beijing_utc(f"{self.on()} {start}"),
                    "date_to": beijing_utc(f"{self.on()} {stop}"),
                    "time_type": "leave",
                }
            )
        holiday = {
            "date_from": beijing_utc(f"{self.on(1)} 00:00"),
            "date_to": beijing_utc(f"{self.on(1)} 23:59"),
        }
        # written after the create: hr_holidays' create moves a public holiday from the user's zone
        Leave.create(
            {"name": "Holiday", "calendar_id": self.standard.id, "company_id": self.company.id, **holiday}
        ).write(holiday)

    def windows(self):
        """Windows as Odoo asks them: days in the zone, a check-in..check-out, a night, a week, UTC days."""
        day = datetime.datetime.combine(self.day, datetime.time())
        local = SHANGHAI.localize(day)
        yield local, local + datetime.timedelta(days=1)
        yield (
            SHANGHAI.localize(day.replace(hour=8, minute=57)),
            SHANGHAI.localize(day.replace(hour=18, minute=4)),
        )
        yield (
            SHANGHAI.localize(day.replace(hour=12, minute=30)),
            SHANGHAI.localize(day.replace(hour=12, minute=40)),
        )
        # within the first of Dave's two leaves that touch: Odoo names only that one
        yield SHANGHAI.localize(day.replace(hour=15)), SHANGHAI.localize(day.replace(hour=15, minute=30))
        yield (
            SHANGHAI.localize(day.replace(hour=22)),
            SHANGHAI.localize(day.replace(hour=6)) + datetime.timedelta(days=1),
        )
        monday = day - datetime.timedelta(days=day.weekday())
        yield (
            utc.localize(monday),
            utc.localize(monday + datetime.timedelta(days=7) - datetime.timedelta(microseconds=1)),
        )
        yield utc.localize(day + datetime.timedelta(days=1)), utc.localize(day + datetime.timedelta(days=2))
        far = day + datetime.timedelta(days=20)  # beyond the first wide window: it grows
        yield utc.localize(far), utc.localize(far + datetime.timedelta(days=1))

    def test_cut_intervals_equal_odoos(self):
        self.leaves()
        batch = CalendarBatch(self.people.resource_id)
        calls = 0
        for calendar, resources, (start, stop) in itertools.product(
            self.standard | self.utc_calendar,
            [*self.people.resource_id, self.env["resource.resource"]],
            self.windows(),
        ):
            fast = calendar.with_context(**{CALENDAR_BATCH: batch})
            for lunch in (False, True):
                with self.subTest(calendar=calendar.name, resource=resources.name, start=start, lunch=lunch):
                    self.assertEqual(
                        flat(fast._attendance_intervals_batch(start, stop, resources, lunch=lunch)),
                        flat(calendar._attendance_intervals_batch(start, stop, resources, lunch=lunch)),
                    )
            for tz, domain in (
                (None, None),
                (timezone("Europe/Paris"), None),
                (None, [("company_id", "in", [False, self.company.id])]),
            ):
                with self.subTest(
                    calendar=calendar.name, resource=resources.name, start=start, tz=tz, domain=domain
                ):
                    self.assertEqual(
                        flat(fast._work_intervals_batch(start, stop, resources, domain=domain, tz=tz)),
                        flat(calendar._work_intervals_batch(start, stop, resources, domain=domain, tz=tz)),
                    )
                    self.assertEqual(
                        flat(fast._leave_intervals_batch(start, stop, resources, domain=domain, tz=tz)),
                        flat(calendar._leave_intervals_batch(start, stop, resources, domain=domain, tz=tz)),
                    )
            calls += 1
        self.assertEqual(calls, 2 * 5 * 8)
        self.assertGreaterEqual(len(batch._wide), 4, "the batch answered itself")
        # the leaves were seen: the batch is not answering empty intervals everywhere
        window = next(self.windows())
        dave = self.standard.with_context(**{CALENDAR_BATCH: batch})._leave_intervals_batch(
            *window, self.dave.resource_id
        )[self.dave.resource_id.id]
        self.assertEqual(len(list(dave)), 1)

    def test_import_computes_what_odoo_computes(self):
        """Imported with the batch and the one-query overlap check, then computed again by Odoo alone."""
        self.leaves()
        shifts = {
            self.alice: ([["09:00", "12:00"], ["13:00", "18:00"]], ["08:41", "12:03", "12:58", "19:35"]),
            self.bob: ([["14:00", "23:00"]], ["13:20", "23:45"]),
            self.carol: ([["09:00", "18:00"]], ["09:10", "17:50"]),
            self.dave: ([["09:00", "18:00"]], ["08:30", "18:30"]),
        }
        for days in (-1, 0, 1):  # two days (a weekend day or not: both are counted) and the holiday
            for employee, (sections, punches) in shifts.items():
                self.schedule(employee, sections, days)
                for time in punches:
                    self.punch(employee, f"{self.on(days)} {time}")
        self.run_import(self.people, -1, 1)
        attendances = self.Attendance.search([("employee_id", "in", self.people.ids)], order="id")
        self.assertEqual(len(attendances), 4 * 3 + 3)  # Alice's two shifts a day
        self.assertTrue(self.overtime_rows(), "the punches make overtime")
        latest = [employee.last_attendance_id for employee in self.people]  # found for all with one query
        alices = attendances.filtered(lambda a: a.employee_id == self.alice)
        self.assertEqual(latest[0], alices.sorted("check_in")[-1])
        self.assert_odoo_computes_the_same(attendances, created=True)
        for employee in self.people:
            employee._compute_last_attendance_id()  # one employee: Odoo's own search
        self.assertEqual([employee.last_attendance_id for employee in self.people], latest)

    def test_import_onto_counted_days_computes_what_odoo_computes(self):
        """Attendances HR recorded before the import already made overtime: the import's attendances of
        those days change it (Alice), end it (Dave: a day now exactly as planned), or make none (Carol,
        fully flexible; Bob, 10 minutes late out, within the company's 15-minute threshold), as Odoo
        does; Alice's 10 minutes before work stay within the threshold too. On Odoo 18 the import
        computed it with its batch."""
        self.company.overtime_company_threshold = 15
        self.carol.resource_calendar_id = False
        for employee in self.alice | self.dave:  # their working hours in Beijing time (Bob's are UTC)
            employee.resource_id.tz = "Asia/Shanghai"
        day = self.working_day()
        recorded = [
            (self.alice, "07:00", "07:10"),  # 10 minutes before work: within the threshold, not counted
            (self.alice, "19:40", "21:00"),
            (self.carol, "07:00", "08:00"),
            (self.dave, "08:00", "12:00"),
        ]
        for employee, start, stop in recorded:
            self.Attendance.create(
                {
                    "employee_id": employee.id,
                    "check_in": beijing_utc(f"{self.on(day)} {start}"),
                    "check_out": beijing_utc(f"{self.on(day)} {stop}"),
                }
            )
        before = {employee: duration for employee, _, duration in self.overtime_rows()}
        if not ODOO_19:  # Odoo 18 keeps one overtime record per day, negative ones too
            self.assertIn(self.dave.id, before)
            self.assertNotIn(self.carol.id, before)
        shifts = {
            self.alice: ([["09:00", "12:00"], ["13:00", "18:00"]], ["08:41", "12:03", "12:58", "19:35"]),
            self.carol: ([["09:00", "18:00"]], ["08:30", "18:30"]),
            self.dave: ([["13:00", "17:00"]], ["13:00", "17:00"]),
            self.bob: ([["14:00", "23:00"]], ["14:00", "23:10"]),  # his UTC schedule: 06:00-15:00
        }
        for employee, (sections, punches) in shifts.items():
            self.schedule(employee, sections, day)
            for time in punches:
                self.punch(employee, f"{self.on(day)} {time}")
        batch = attendance_model.update_overtime
        with patch.object(attendance_model, "update_overtime", wraps=batch) as batched:
            self.run_import(self.people, day, day)
        self.assertEqual(batched.called, not ODOO_19, "Odoo 18's overtime is the batch's")
        attendances = self.Attendance.search([("employee_id", "in", self.people.ids)], order="id")
        self.assertEqual(len(attendances), 4 + 5)
        after = {employee: duration for employee, _, duration in self.overtime_rows()}
        if not ODOO_19:
            self.assertNotEqual(after[self.alice.id], before[self.alice.id])
            self.assertNotIn(self.dave.id, after, "a day as planned has no overtime")
            self.assertNotIn(self.carol.id, after)
            self.assertNotIn(self.bob.id, after, "10 minutes late out are within the threshold")
        self.assert_odoo_computes_the_same(attendances)

    def test_overtime_batch_leaves_other_overrides_to_odoo(self):
        """Odoo 18's overtime is batched only while hr_attendance's method (and this module's) are the only
        ones: another addon's override of it must run."""
        self.assertTrue(only_known_overrides(type(self.Attendance)))
        module = "odoo.addons.{}.models.hr_attendance"
        odoos = type("Odoos", (), {"_update_overtime": None, "__module__": module.format("hr_attendance")})
        ours = type(
            "Ours",
            (odoos,),
            {"_update_overtime": None, "__module__": module.format("ziqi_dingtalk_attendance")},
        )
        self.assertTrue(only_known_overrides(ours))
        other = type(
            "Other", (ours,), {"_update_overtime": None, "__module__": module.format("hr_overtime_x")}
        )
        self.assertFalse(only_known_overrides(other))
        self.assertTrue(only_known_overrides(type("Plain", (ours,), {"__module__": module.format("x")})))

    def working_day(self):
        """The offset of a day of the test's days on which the standard schedule (08:00-12:00,
        13:00-17:00) has its full working time: a weekday, and no public holiday (demo data has some)."""
        holidays = self.env["resource.calendar.leaves"].search([("resource_id", "=", False)])
        for offset in range(0, -7, -1):
            start = datetime.datetime.combine(self.day + DAY * offset, datetime.time()) - SHANGHAI_OFFSET
            free = not holidays.filtered(lambda h, s=start: h.date_from < s + DAY and h.date_to > s)
            if free and self.standard._works_on_date(self.day + DAY * offset):
                return offset
        raise AssertionError("no working day among the test's days")

    def assert_odoo_computes_the_same(self, attendances, created=False):
        """The attendances' hours and overtime, computed again by Odoo alone, are what the import made.
        ``created``: no overtime existed before the import, so Odoo creates its records again (their real
        duration compared too: Odoo's update of an existing record overwrites it)."""
        fields = ["worked_hours", "overtime_hours", "expected_hours", "validated_overtime_hours"]
        imported = attendances.read(fields)
        overtime = self.overtime_rows(real=created)
        if created and not ODOO_19:  # Odoo 19 removes and creates its overtime lines itself
            self.env["hr.attendance.overtime"].search(
                [("employee_id", "in", self.people.ids), ("adjustment", "=", False)]
            ).unlink()
        for field in fields:
            self.env.add_to_compute(attendances._fields[field], attendances)
        attendances._update_overtime()  # Odoo alone: no batch in the context
        self.env.flush_all()
        attendances.invalidate_recordset(fields)
        self.assertEqual(attendances.read(fields), imported)
        self.assertEqual(self.overtime_rows(real=created), overtime)

    def test_versions_equal_odoos(self):
        if "hr.version" not in self.env:
            self.skipTest("Odoo 18 has no contract versions")
        days = [self.day + datetime.timedelta(days=n) for n in range(-60, 61)]
        self.alice.version_id.write({"contract_date_start": days[30], "contract_date_end": days[59]})
        self.bob.version_id.write({"contract_date_start": days[62], "contract_date_end": False})
        batch = VersionBatch(self.people)
        found = 0
        for employee in self.people.sudo():
            for start, stop in ((0, 29), (0, 30), (59, 60), (60, 61), (61, 62), (63, 64), (0, 120), (30, 30)):
                with self.subTest(employee=employee.name, start=start, stop=stop):
                    fast = employee.with_context(**{VERSION_BATCH: batch})
                    period = days[start], days[stop]
                    versions = fast._get_versions_with_contract_overlap_with_period(*period)
                    odoos = employee._get_versions_with_contract_overlap_with_period(*period)
                    self.assertEqual(versions, odoos)
                    found += len(versions)
        self.assertEqual(found, 4 + 3)  # the contracts were seen: in 4 of the periods for Alice, 3 for Bob
        self.assertEqual(len(batch._versions), 1, "the batch answered from its one search")

    def overtime_rows(self, real=False):
        """(employee id, date, duration[, real duration]) of the people's overtime, sorted."""
        self.env.flush_all()
        model = (
            "hr.attendance.overtime.line"
            if "hr.attendance.overtime.line" in self.env
            else "hr.attendance.overtime"
        )
        rows = self.env[model].search([("employee_id", "in", self.people.ids)])
        real = real and "duration_real" in rows._fields
        return sorted(
            (
                r.employee_id.id,
                str(r.date),
                round(r.duration, 4),
                *([round(r.duration_real, 4)] if real else []),
            )
            for r in rows
        )

    def test_one_query_overlap_check_refuses_what_odoo_refuses(self):
        Attendance = importing(self.Attendance).sudo()
        day = datetime.datetime.combine(self.day, datetime.time(1))
        hour = datetime.timedelta(hours=1)
        self.Attendance.create({"employee_id": self.alice.id, "check_in": day, "check_out": day + 4 * hour})
        self.Attendance.create({"employee_id": self.alice.id, "check_in": day + 10 * hour})  # open
        for start, stop, refused in (
            (day - 2 * hour, day, False),  # ends as the other starts
            (day - hour, day + hour, True),
            (day + hour, day + 2 * hour, True),  # within
            (day + 4 * hour, day + 5 * hour, False),
            (day + 3 * hour, day + 5 * hour, True),
            (day + 9 * hour, day + 11 * hour, True),  # the open one starts within
            (day + 11 * hour, day + 12 * hour, False),  # after the open one started: Odoo lets it be
        ):
            vals = {"employee_id": self.alice.id, "check_in": start, "check_out": stop}
            for model, name in ((Attendance, "import"), (self.Attendance, "Odoo")):
                with self.subTest(start=start, stop=stop, by=name):
                    try:
                        with self.env.cr.savepoint():
                            model.create(vals).unlink()  # gone again: each case meets the same two
                            self.env.flush_all()
                        outcome = False
                    except ValidationError:
                        outcome = True
                    self.assertEqual(outcome, refused)
