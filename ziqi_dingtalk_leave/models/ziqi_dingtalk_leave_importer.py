import collections
import dataclasses
import datetime
import logging
import time

import psycopg2
import pytz

from odoo import api, fields, models
from odoo.exceptions import UserError

from ..compat import approve_allocation, requires_allocation
from .hr_leave import DEFER_CHECK, IMPORT_TOKEN

_logger = logging.getLogger(__name__)

WINDOW_BEFORE = datetime.timedelta(days=30)  # the leave window: today − 30 … today + 90 days
WINDOW_AFTER = datetime.timedelta(days=90)
# the fields of a time off that say when and how long, as DingTalk counts them
DINGTALK_COUNTS = ("date_from", "date_to", "number_of_days", "number_of_hours")
# Odoo's own quiet path for time off it makes itself (hr.leave._split_leaves and the like): no tracking,
# no followers, activities or mail to the employee
QUIET = {
    "tracking_disable": True,
    "mail_notrack": True,
    "mail_create_nolog": True,
    "mail_create_nosubscribe": True,
    "mail_activity_automation_skip": True,
    "leave_fast_create": True,
    "leave_skip_state_check": True,
}


@dataclasses.dataclass
class LeaveReport:
    """What one import did (counts per outcome)."""

    counts: collections.Counter = dataclasses.field(default_factory=collections.Counter)

    def summary(self, env):
        return env._(
            "%(imported)s imported, %(revoked)s cancelled, %(unmapped)s waiting for a type mapping, "
            "%(failed)s failed, %(unchanged)s unchanged",
            imported=self.counts["imported"],
            revoked=self.counts["revoked"],
            unmapped=self.counts["unmapped"],
            failed=self.counts["failed"],
            unchanged=self.counts["unchanged"],
        )


class ZiqiDingtalkLeaveImporter(models.AbstractModel):
    """The one stateless importer of DingTalk leave, called by the cron, the button and the events:
    DingTalk's approved leave of some people over a window → ziqi.dingtalk.leave rows → hr.leave."""

    _name = "ziqi.dingtalk.leave.importer"
    _description = "DingTalk Leave Importer"

    @api.model
    def _window(self):
        today = datetime.datetime.combine(fields.Date.today(), datetime.time.min)
        return today - WINDOW_BEFORE, today + WINDOW_AFTER

    @api.model
    def _sync_company(self, company):
        """The leave of every person of ``company`` bound to DingTalk, those who left included."""
        employees = (
            self.env["hr.employee"]
            .sudo()
            .with_context(active_test=False)
            .search([("company_id", "=", company.id), ("dingtalk_userid", "!=", False)])
        )
        return self._sync_leaves(company, employees.mapped("dingtalk_userid"), *self._window())

    @api.model
    def _sync_leaves(self, company, userids, start, end):
        """Bring the leave of ``userids`` overlapping ``start``..``end`` (naive UTC) in line with DingTalk:
        new leave is imported, leave DingTalk no longer lists is cancelled; what is already right is left
        untouched. Returns a LeaveReport."""
        started = time.monotonic()
        report = LeaveReport()
        userids = [u for u in dict.fromkeys(userids or ()) if u]
        if not userids:
            return report
        client = company._dingtalk_attendance_client()
        listed = list(client.iter_leave_status(userids, start, end))
        Row = self.env["ziqi.dingtalk.leave"].sudo()
        rows = Row.search(
            [
                ("company_id", "=", company.id),
                "|",
                ("key", "in", [status.key for status in listed]),
                "&",
                ("userid", "in", userids),
                "&",
                ("start", "<", end),
                ("end", ">", start),
            ]
        )
        by_key = {row.key: row for row in rows}
        listed_keys = {status.key for status in listed}
        # a leaver's leave is no longer listed because they left, not because it was revoked: it stays
        gone = rows.filtered(lambda r: r.key not in listed_keys and r.state != "revoked")
        self._revoke(gone.filtered(lambda r: not r.employee_id or r.employee_id.active), report)
        new = [status for status in listed if status.key not in by_key]
        types = self._types_for(company, {status.leave_code: status.unit for status in new})
        employees = self._employees(company, userids)
        created = Row.create([self._prepare_leave_vals(company, status, types, employees) for status in new])
        # new rows, and the old ones still waiting (a mapping, an allocation, an employee)
        waiting = rows.filtered(lambda r: r.key in listed_keys and r.state != "imported")
        self._import_rows(created | waiting, report)
        report.counts["unchanged"] += len(rows.filtered(lambda r: r.key in listed_keys)) - len(waiting)
        _logger.info(
            "DingTalk leave of %s (%s people): %s listed, %s (%.1fs)",
            company.name,
            len(userids),
            len(listed),
            dict(report.counts),
            time.monotonic() - started,
        )
        return report

    @api.model
    def _prepare_leave_vals(self, company, status, types, employees):
        """The row of a leave from DingTalk's ``LeaveStatus`` (plain values, the type and employee found)."""
        return {
            "company_id": company.id,
            "key": status.key,
            "userid": status.userid,
            "employee_id": employees.get(status.userid, False),
            "leave_type_id": types[status.leave_code].id,
            "start": status.start,
            "end": status.end,
            "unit": status.unit if status.unit in ("day", "hour") else "day",
            "duration": status.duration,
            "state": "unmapped",
        }

    def _types_for(self, company, units):
        """{leave code: type} for the codes of ``units`` ({code: unit}); a code never listed by the type
        refresh gets a type of its own, to be mapped."""
        Type = self.env["ziqi.dingtalk.leave.type"].sudo().with_context(active_test=False)
        types = {
            t.leave_code: t
            for t in Type.search([("company_id", "=", company.id), ("leave_code", "in", list(units))])
        }
        missing = [code for code in units if code not in types]
        if missing:
            made = Type.create(
                [
                    {"company_id": company.id, "leave_code": code, "name": code, "unit": units[code]}
                    for code in missing
                ]
            )
            types.update({t.leave_code: t for t in made})
        return types

    def _employees(self, company, userids):
        employees = (
            self.env["hr.employee"]
            .sudo()
            .with_context(active_test=False)
            .search([("company_id", "=", company.id), ("dingtalk_userid", "in", list(userids))])
        )
        return {employee.dingtalk_userid: employee.id for employee in employees}

    def _import_waiting(self, leave_types):
        """Import the rows of ``leave_types`` that waited for a mapping (a type was just mapped)."""
        rows = (
            self.env["ziqi.dingtalk.leave"]
            .sudo()
            .search([("leave_type_id", "in", leave_types.ids), ("state", "in", ("unmapped", "failed"))])
        )
        report = LeaveReport()
        self._import_rows(rows, report)
        return report

    # --- one leave ---

    def _import_rows(self, rows, report):
        for row in rows:
            state, message, leave = self._import_one(row)
            report.counts[state] += 1
            vals = {"state": state, "message": message or False, "leave_id": leave.id or row.leave_id.id}
            changed = {k: v for k, v in vals.items() if row._fields[k].convert_to_write(row[k], row) != v}
            if changed:
                row.write(changed)

    def _import_one(self, row):
        """(state, message, hr.leave) of importing one row; nothing is left behind when it fails."""
        leave_type = row.leave_type_id.holiday_status_id
        if not leave_type:
            return "unmapped", "", self.env["hr.leave"]
        if not row.employee_id:
            employee = self._employees(row.company_id, [row.userid]).get(row.userid)
            if not employee:
                message = self.env._(
                    "No employee is bound to the DingTalk person %(userid)s.", userid=row.userid
                )
                return "failed", message, self.env["hr.leave"]
            row.employee_id = employee
        try:
            with self.env.cr.savepoint():
                leave = self._create_leave(row, leave_type)
        except (UserError, psycopg2.Error) as error:
            _logger.debug("DingTalk leave %s not imported", row.key, exc_info=True)
            return "failed", str(error.args[0] if error.args else error), self.env["hr.leave"]
        return "imported", "", leave

    def _create_leave(self, row, leave_type):
        key, token = IMPORT_TOKEN
        Leave = self.env["hr.leave"].sudo().with_context(**QUIET, **{key: token, DEFER_CHECK: token})
        vals = self._prepare_time_off_vals(row, leave_type)
        if row.leave_type_id.allocate and requires_allocation(leave_type):
            self._top_up(row, leave_type, dict(vals))
        # Odoo computes these from the requested dates and its calendar: DingTalk's are written over them
        counted = {fname: vals.pop(fname) for fname in DINGTALK_COUNTS}
        leave = Leave.create(vals)
        leave.flush_recordset()
        leave.write({fname: counted[fname] for fname in ("date_from", "date_to")})
        leave.flush_recordset()  # the duration Odoo recomputes from them, then DingTalk's
        leave.write({fname: counted[fname] for fname in ("number_of_days", "number_of_hours")})
        leave.with_context(**{DEFER_CHECK: False})._check_validity()  # Odoo's check, on DingTalk's count
        # validated as Odoo's own approval does (resource leave), without its mail to the employee
        leave._create_resource_leave()
        return leave

    @api.model
    def _prepare_time_off_vals(self, row, leave_type):
        """The validated hr.leave of a row, with DingTalk's start, end and duration: the duration Odoo
        stores is DingTalk's, even where Odoo's calendar would count differently."""
        tz = pytz.timezone(row.company_id.dingtalk_timezone)
        local_start = pytz.utc.localize(row.start).astimezone(tz)
        local_end = pytz.utc.localize(row.end).astimezone(tz)
        hours_per_day = (
            row.leave_type_id.hours_per_day or row.employee_id._get_hours_per_day(local_start.date()) or 8
        )
        if row.unit == "hour":
            days, hours = row.duration / hours_per_day, row.duration
        else:
            days, hours = row.duration, row.duration * hours_per_day
        return {
            "name": self.env._("DingTalk: %(type)s", type=row.leave_type_id.name),
            "employee_id": row.employee_id.id,
            "holiday_status_id": leave_type.id,
            "request_date_from": local_start.date(),
            "request_date_to": local_end.date(),
            "date_from": row.start,
            "date_to": row.end,
            "number_of_days": days,
            "number_of_hours": hours,
            "state": "validate",
            "dingtalk_leave_id": row.id,
        }

    def _top_up(self, row, leave_type, vals):
        """A validated allocation for what the employee's balance of ``leave_type`` does not cover."""
        employee = row.employee_id
        data = leave_type.get_allocation_data(employee, vals["request_date_from"]).get(employee) or []
        remaining = data[0][1]["virtual_remaining_leaves"] if data else 0.0
        hourly = leave_type.request_unit == "hour"
        needed = vals["number_of_hours"] if hourly else vals["number_of_days"]
        missing = round(needed - max(remaining, 0.0), 2)
        if missing <= 0:
            return
        days = missing / (vals["number_of_hours"] / vals["number_of_days"]) if hourly else missing
        allocation = (
            self.env["hr.leave.allocation"]
            .sudo()
            .with_context(**QUIET)
            .create(
                {
                    "name": self.env._("DingTalk top-up: %(leave)s", leave=vals["name"]),
                    "holiday_status_id": leave_type.id,
                    "employee_id": employee.id,
                    "allocation_type": "regular",
                    "date_from": vals["request_date_from"],
                    "number_of_days": days,
                }
            )
        )
        approve_allocation(allocation)

    # --- leave DingTalk no longer lists ---

    def _revoke(self, rows, report):
        """Cancel the time off of leave revoked (or changed) in DingTalk, the way Odoo cancels it."""
        if not rows:
            return
        leaves = rows.leave_id.filtered(lambda leave: leave.state not in ("cancel", "refuse"))
        quiet = leaves.sudo().with_context(**QUIET)
        for leave in quiet:
            leave._force_cancel(self.env._("Revoked or changed in DingTalk."), "mail.mt_note", False)
        rows.write({"state": "revoked", "message": False})
        report.counts["revoked"] += len(rows)
