"""Odoo 18's overtime of the attendances one import batch creates, with two searches for the batch."""

from collections import defaultdict
from datetime import timedelta

import pytz

from odoo.tools import float_compare, float_is_zero

DAY = timedelta(hours=24)
# the addons whose _update_overtime this module knows: Odoo's rule, and this module's dispatch to it
KNOWN_OWNERS = frozenset({"hr_attendance", "ziqi_dingtalk_attendance"})


def only_known_overrides(model_class, method="_update_overtime"):
    """Whether every class of ``model_class`` (a registry class) defining ``method`` comes from one of the
    KNOWN_OWNERS: when another addon overrides it, that override must run, so the batch goes to Odoo."""
    owners = {
        cls.__module__.split(".")[2] if cls.__module__.startswith("odoo.addons.") else cls.__module__
        for cls in model_class.__mro__
        if method in vars(cls)
    }
    return owners <= KNOWN_OWNERS


def update_overtime(attendances):
    """Odoo 18's ``hr.attendance._update_overtime()`` for ``attendances`` (just created by the import): the
    same rule for each employee and local day (hr_attendance 18.0, ``_update_overtime``, followed line by
    line), but the attendances and overtime records of the days concerned are found with one search each
    for all the batch's employees instead of two searches per employee.

    Invariant: each employee's day sees the records Odoo's own searches find (the same conditions, applied
    to a wider search, in the same order), so what is written equals what Odoo writes;
    ``test_import_computes_what_odoo_computes`` recomputes an import with Odoo's method and compares."""
    env = attendances.env
    employee_days = attendances._get_attendances_dates()
    per_day = _attendances_per_day(attendances, employee_days)
    overtimes = _overtimes(env, employee_days)
    to_create, to_unlink, affected = [], env["hr.attendance.overtime"], env["hr.employee"]
    for employee, days in employee_days.items():
        if employee.is_fully_flexible:  # Odoo skips every day of a fully flexible employee
            continue
        working_times = _working_times(employee, days)
        for _, day in days:
            duration, duration_real, unfinished = _day_overtime(
                employee, per_day.get((employee, day), attendances.browse()), working_times, day
            )
            overtime = overtimes.get((employee, day), env["hr.attendance.overtime"])
            if not float_is_zero(duration, 2) or unfinished:
                if unfinished:
                    duration = 0
                if not overtime and duration:
                    to_create.append(
                        {
                            "employee_id": employee.id,
                            "date": day,
                            "duration": duration,
                            "duration_real": duration_real,
                        }
                    )
                elif overtime:
                    # Odoo writes duration as duration_real here (not the real one), and so does this
                    overtime.sudo().write({"duration": duration, "duration_real": duration})
                    affected |= overtime.employee_id
            elif overtime:
                to_unlink |= overtime
    created = env["hr.attendance.overtime"].sudo().create(to_create)
    recompute_ids = affected.ids + created.employee_id.ids + to_unlink.employee_id.ids
    to_unlink.sudo().unlink()
    _recompute_hours(attendances.search([("employee_id", "in", recompute_ids)]))


def _attendances_per_day(attendances, employee_days):
    """{(employee, local day): its attendances checked in that day}: Odoo searches, for each employee,
    those checking in within 24 hours of one of its days' starts, then groups them by local day."""
    starts = [start for days in employee_days.values() for start, _ in days]
    if not starts:
        return {}
    found = attendances.search(
        [
            ("employee_id", "in", [employee.id for employee in employee_days]),
            ("check_in", ">=", min(starts)),
            ("check_in", "<", max(starts) + DAY),
        ]
    )
    by_employee = found.grouped("employee_id")
    per_day = defaultdict(attendances.browse)
    for employee, days in employee_days.items():
        for attendance in by_employee.get(employee, attendances.browse()):
            if any(start <= attendance.check_in < start + DAY for start, _ in days):
                day = attendance._get_day_start_and_day(employee, attendance.check_in)[1]
                per_day[(employee, day)] += attendance
    return per_day


def _overtimes(env, employee_days):
    """{(employee, day): its overtime record}: one per employee and day that is not an adjustment."""
    dates = list({day for days in employee_days.values() for _, day in days})
    found = (
        env["hr.attendance.overtime"]
        .sudo()
        .search(
            [
                ("employee_id", "in", [employee.id for employee in employee_days]),
                ("date", "in", dates),
                ("adjustment", "=", False),
            ]
        )
    )
    days = {employee.id: {day for _, day in employee_days[employee]} for employee in employee_days}
    return {
        (overtime.employee_id, overtime.date): overtime
        for overtime in found
        if overtime.date in days[overtime.employee_id.id]
    }


def _working_times(employee, days):
    """{date: [(start, stop)]} of the employee's expected attendance over its days (UTC-localised)."""
    start = pytz.utc.localize(min(start for start, _ in days))
    stop = pytz.utc.localize(max(start for start, _ in days) + DAY)
    working_times = defaultdict(list)
    for interval in employee._employee_attendance_intervals(start, stop):
        working_times[interval[0].date()].append(interval[:2])
    return working_times


def _day_overtime(employee, attendances, working_times, day):
    """(overtime, real overtime, whether a shift is open) of one employee's day, as Odoo counts them: no
    overtime while a shift is open or without attendances; all worked hours on a day without working
    time; otherwise the time within, before and after the working hours, before and after counted only
    past the company's threshold."""
    unfinished = attendances.filtered(lambda a: not a.check_out)
    if unfinished or not attendances:
        return 0, 0, unfinished
    if not working_times[day]:
        worked = sum(attendances.mapped("worked_hours"))
        return worked, worked, unfinished
    company_threshold = employee.company_id.overtime_company_threshold / 60.0
    before, during, after, planned = attendances._get_pre_post_work_time(employee, working_times, day)
    duration = during - planned
    if before > company_threshold:
        duration += before
    if after > company_threshold:
        duration += after
    return duration, sum(attendances.mapped("worked_hours")) - planned, unfinished


def _recompute_hours(to_recompute):
    """Odoo's last step: the employees' attendances recompute their overtime and expected hours, and their
    validated hours unless they were validated automatically and changed by hand."""
    fields = to_recompute._fields
    validated_modified = to_recompute.filtered(
        lambda a: a.employee_id.company_id.attendance_overtime_validation == "no_validation"
        and float_compare(a.overtime_hours, a.validated_overtime_hours, precision_digits=2)
    )
    to_recompute.env.add_to_compute(fields["overtime_hours"], to_recompute)
    to_recompute.env.add_to_compute(fields["validated_overtime_hours"], to_recompute - validated_modified)
    to_recompute.env.add_to_compute(fields["expected_hours"], to_recompute)
