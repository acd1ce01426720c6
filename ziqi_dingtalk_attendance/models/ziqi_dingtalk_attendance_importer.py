import contextlib
import datetime

from odoo import fields, models
from odoo.addons.ziqi_dingtalk.dingtalk.attendance import pair_shifts
from odoo.exceptions import ValidationError

from .hr_attendance import importing
from .hr_employee import VERSION_BATCH, VersionBatch
from .resource_calendar import CALENDAR_BATCH, CalendarBatch

# DingTalk records a missing punch only once the punching window has closed: up to 12 hours after the
# check point ("前8后12", [KB:API/0243]); before that a NotSigned result may still be punched
GAP_SETTLED = datetime.timedelta(hours=12)


class ZiqiDingtalkAttendanceImporter(models.AbstractModel):
    """The one mapping of DingTalk shifts (docs/dingtalk-attendance-protocol.md §3) onto Odoo: a complete
    shift is an ``hr.attendance`` bound by its key; an incomplete one an exception and never an attendance.
    Idempotent: what DingTalk says is compared with what it said last, and only changes are written.

    Called with the company, its bound employees (archived ones included: a leaver's earlier days are
    still imported), the work days and a ``counts`` Counter (created, updated, unchanged, removed,
    exceptions, resolved, pending, conflicts)."""

    _name = "ziqi.dingtalk.attendance.importer"
    _description = "DingTalk attendance import"

    def _import(self, company, employees, date_from, date_to, counts):
        by_userid = {e.dingtalk_userid: e for e in employees.sudo() if e.dingtalk_userid}
        if not by_userid:
            return
        client = company._dingtalk_attendance_client()
        # Odoo's calendar and contract work for the attendances created: done once for all these people
        calendars, versions = CalendarBatch(employees.sudo().resource_id), VersionBatch(employees)
        batch = self.with_context(**{CALENDAR_BATCH: calendars, VERSION_BATCH: versions})
        for results in client.iter_results(sorted(by_userid), date_from, date_to):
            shifts = [shift for shift in pair_shifts(results) if shift.userid in by_userid]
            batch._apply(company, shifts, by_userid, counts)
            counts["shifts"] += len(shifts)

    def _apply(self, company, shifts, by_userid, counts):
        """Apply one answer's shifts: bindings and exceptions prefetched with one search each."""
        if not shifts:
            return
        attendances, exceptions = self._known(company, shifts, by_userid)
        on_leave = self._time_off(shifts, by_userid)
        settled_before = fields.Datetime.now() - GAP_SETTLED
        complete, new_exceptions = [], []
        for shift in shifts:
            employee = by_userid[shift.userid]
            attendance = attendances.get((employee.id, shift.key))
            exception = exceptions.get((employee.id, shift.key))
            if not shift.missing:
                if attendance:
                    self._update(company, attendance, shift, counts)
                else:
                    complete.append((employee, shift))
            elif max(r.base_time for r in (shift.on, shift.off) if r) > settled_before:
                counts["pending"] += 1  # DingTalk may still take the punch
            elif on_leave(employee, shift) and not attendance:
                counts["on_leave"] += 1  # time off or a public holiday in Odoo: no punch was due
            else:
                self._gap(company, employee, shift, attendance, exception, counts, new_exceptions)
        self._exceptions().create(new_exceptions)
        created = self._create(company, complete, counts)
        self._resolve(exceptions, created, counts)

    def _known(self, company, shifts, by_userid):
        keys = list({shift.key for shift in shifts})
        employee_ids = list({by_userid[shift.userid].id for shift in shifts})
        Attendance = self._attendances()
        found = Attendance.search([("dingtalk_key", "in", keys), ("employee_id", "in", employee_ids)])
        attendances = {(a.employee_id.id, a.dingtalk_key): a for a in found}
        found = self._exceptions().search(
            [("company_id", "=", company.id), ("key", "in", keys), ("employee_id", "in", employee_ids)]
        )
        return attendances, {(x.employee_id.id, x.key): x for x in found}

    def _time_off(self, shifts, by_userid):
        """``on_leave(employee, shift)``: whether Odoo has the employee away (validated time off, which Odoo
        keeps as the employee's resource leave, or a public holiday of their working schedule) for the whole
        of the shift's scheduled time. One search for the answer's people and days."""
        employees = self.env["hr.employee"].browse({by_userid[shift.userid].id for shift in shifts})
        times = [r.base_time for shift in shifts for r in (shift.on, shift.off) if r]
        leaves = (
            self.env["resource.calendar.leaves"]
            .sudo()
            .search(
                [
                    ("date_from", "<=", max(times)),
                    ("date_to", ">=", min(times)),
                    "|",
                    ("resource_id", "in", employees.resource_id.ids),
                    "&",
                    ("resource_id", "=", False),
                    ("calendar_id", "in", [*employees.resource_calendar_id.ids, False]),
                ]
            )
        )

        def on_leave(employee, shift):
            start = shift.on.base_time if shift.on else shift.off.base_time
            end = shift.off.base_time if shift.off else shift.on.base_time
            return any(
                leave.date_from <= start
                and leave.date_to >= end
                and (
                    leave.resource_id == employee.resource_id
                    or (not leave.resource_id and leave.calendar_id in (employee.resource_calendar_id, False))
                )
                for leave in leaves
            )

        return on_leave

    def _attendances(self):
        return importing(self.env["hr.attendance"]).sudo().with_context(tracking_disable=True)

    def _exceptions(self):
        return self.env["ziqi.dingtalk.attendance.exception"].sudo().with_context(mail_notrack=True)

    @staticmethod
    def _prepare_attendance_vals(employee, shift):
        return {
            "employee_id": employee.id,
            "check_in": shift.check_in,
            "check_out": shift.check_out,
            "in_mode": "dingtalk",
            "out_mode": "dingtalk",
            "dingtalk_key": shift.key,
            "dingtalk_work_date": shift.work_date,
            "dingtalk_check_in": shift.check_in,
            "dingtalk_check_out": shift.check_out,
        }

    def _create(self, company, complete, counts):
        """Create the attendances of complete shifts, all at once; if Odoo refuses the batch (an overlap
        with an attendance recorded in Odoo), one by one, each refused shift becoming an exception."""
        if not complete:
            return {}
        Attendance = self._attendances()
        vals_list = [self._prepare_attendance_vals(employee, shift) for employee, shift in complete]
        records = self._create_all(Attendance, vals_list)
        if records is not None:
            counts["created"] += len(records)
            return {(r.employee_id.id, r.dingtalk_key): r for r in records}
        created = {}
        for (employee, shift), vals in zip(complete, vals_list, strict=True):
            try:
                with self._savepoint():
                    created[(employee.id, shift.key)] = Attendance.create(vals)
                counts["created"] += 1
            except ValidationError as error:
                self._conflict(company, employee, shift, error.args[0], counts)
        return created

    def _create_all(self, Attendance, vals_list):
        """The attendances of ``vals_list``, or None when Odoo refuses one of them (nothing is created)."""
        try:
            with self._savepoint():
                return Attendance.create(vals_list)
        except ValidationError:
            return None

    @contextlib.contextmanager
    def _savepoint(self):
        """A savepoint whose changes are flushed in the import's context before it ends: the fields Odoo
        computes for them (worked hours, overtime) use the calendar and version batches; the savepoint's
        own flushes (as it opens and as it ends) would compute them, and what is pending before it, in a
        context without."""
        self.env.flush_all()
        with self.env.cr.savepoint():
            yield
            self.env.flush_all()

    def _update(self, company, attendance, shift, counts):
        """DingTalk's times changed since the last import (a correction, an admin's change): they replace
        the attendance's times. Unchanged DingTalk times leave an HR correction made in Odoo alone."""
        if (attendance.dingtalk_check_in, attendance.dingtalk_check_out) == (shift.check_in, shift.check_out):
            counts["unchanged"] += 1
            return
        vals = {
            "check_in": shift.check_in,
            "check_out": shift.check_out,
            "dingtalk_check_in": shift.check_in,
            "dingtalk_check_out": shift.check_out,
        }
        try:
            with self._savepoint():
                attendance.write(vals)
            counts["updated"] += 1
        except ValidationError as error:
            self._conflict(company, attendance.employee_id, shift, error.args[0], counts)

    def _gap(self, company, employee, shift, attendance, exception, counts, new_exceptions):
        """An incomplete shift: its exception is brought up to date, or opened (its values added to
        ``new_exceptions``, created together with the answer's others). An attendance DingTalk made earlier
        is removed when DingTalk now says NotSigned (its punch withdrawn); a check point merely missing
        from the answer removes nothing; an attendance HR recorded in Odoo stays."""
        withdrawn = any(record and not record.signed for record in (shift.on, shift.off))
        if attendance and attendance.dingtalk_check_in and withdrawn:
            attendance.unlink()
            counts["removed"] += 1
            if exception:
                exception.write({"state": "open", "resolution": False, "attendance_id": False})
        elif attendance:
            counts["unchanged"] += 1
            return
        vals = self._prepare_exception_vals(company, employee, shift)
        if exception:
            self._update_exception(exception, vals, counts)
        else:
            new_exceptions.append(self._new_exception_vals(vals, counts))

    @staticmethod
    def _prepare_exception_vals(company, employee, shift):
        return {
            "company_id": company.id,
            "employee_id": employee.id,
            "key": shift.key,
            "work_date": shift.work_date,
            "missing": shift.missing,
            "scheduled_in": shift.on.base_time if shift.on else False,
            "scheduled_out": shift.off.base_time if shift.off else False,
            "punched_in": shift.check_in or False,
            "punched_out": shift.check_out or False,
            "detail": False,
        }

    @staticmethod
    def _new_exception_vals(vals, counts):
        counts["exceptions"] += 1
        return dict(vals, check_in=vals["punched_in"], check_out=vals["punched_out"])

    def _update_exception(self, exception, vals, counts):
        changed = {
            k: v
            for k, v in vals.items()
            if exception._fields[k].convert_to_write(exception[k], exception) != v
        }
        if changed:
            # what HR typed stays; a punch DingTalk now knows fills an empty time
            for punched, entered in (("punched_in", "check_in"), ("punched_out", "check_out")):
                if punched in changed and not exception[entered]:
                    changed[entered] = changed[punched]
            exception.write(changed)
            counts["updated"] += 1
        else:
            counts["unchanged"] += 1

    def _conflict(self, company, employee, shift, detail, counts):
        vals = self._prepare_exception_vals(company, employee, shift)
        vals.update(missing="conflict", detail=str(detail)[:250])
        existing = self._exceptions().search(
            [("company_id", "=", company.id), ("employee_id", "=", employee.id), ("key", "=", shift.key)]
        )
        if existing:
            self._update_exception(existing, vals, counts)
        else:
            self._exceptions().create(self._new_exception_vals(vals, counts))
        counts["conflicts"] += 1

    def _resolve(self, exceptions, created, counts):
        """Open exceptions whose shift is now complete in DingTalk (a 补卡) are resolved by its attendance."""
        for binding, attendance in created.items():
            exception = exceptions.get(binding)
            if exception and exception.state == "open":
                exception.write(
                    {"state": "resolved", "resolution": "dingtalk", "attendance_id": attendance.id}
                )
                counts["resolved"] += 1
