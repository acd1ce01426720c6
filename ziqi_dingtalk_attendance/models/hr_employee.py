from odoo import api, models

VERSION_BATCH = "ziqi_dingtalk_attendance_version_batch"


class VersionBatch:
    """The contract versions (Odoo 19's ``hr.version``) of one import's employees, searched once.

    For each attendance it creates, Odoo 19 searches the employee's versions whose contract overlaps a few
    days, twice. With a batch in the context those calls about the batch's employees are answered by
    filtering one search of all their versions with a contract, in the same order: the import writes no
    versions, so the answer cannot go stale while it runs."""

    def __init__(self, employees):
        self.employee_ids = set(employees.ids)
        self._versions = {}  # active_test -> {employee id: its versions with a contract, in Odoo's order}

    def serves(self, employee):
        return employee.env.su and len(employee) == 1 and employee.id in self.employee_ids

    def overlapping(self, employee, date_from, date_to):
        active_test = employee.env.context.get("active_test", True)
        by_employee = self._versions.get(active_test)
        if by_employee is None:
            by_employee = self._versions[active_test] = (
                employee.env["hr.version"]
                .search(
                    [("employee_id", "in", list(self.employee_ids)), ("contract_date_start", "!=", False)],
                    order="date_version, id",
                )
                .grouped("employee_id")
            )
        versions = by_employee.get(employee, employee.env["hr.version"])
        return versions.filtered(
            lambda v: v.contract_date_start <= date_to
            and (not v.contract_date_end or v.contract_date_end >= date_from)
        )


class HrEmployee(models.Model):
    _inherit = "hr.employee"

    @api.depends("attendance_ids")
    def _compute_last_attendance_id(self):
        """Odoo searches each employee's latest attendance (by check-in) on its own; for many employees (an
        import batch) one query finds them all, with the same answer."""
        if len(self) <= 1 or not all(self._ids):  # one, or new records (falsy ids): Odoo's search
            return super()._compute_last_attendance_id()
        self.env["hr.attendance"].flush_model(["employee_id", "check_in"])
        self.env.cr.execute(
            """SELECT DISTINCT ON (employee_id) employee_id, id FROM hr_attendance
                WHERE employee_id IN %s ORDER BY employee_id, check_in DESC""",
            [tuple(self.ids)],
        )
        latest = dict(self.env.cr.fetchall())
        Attendance = self.env["hr.attendance"]
        for employee in self:
            employee.last_attendance_id = Attendance.browse(latest.get(employee.id))

    def _get_versions_with_contract_overlap_with_period(self, date_from, date_to):
        """Odoo 19 (Odoo 18 has no versions and never calls this)."""
        batch = self.env.context.get(VERSION_BATCH)
        if batch is None or not batch.serves(self):
            return super()._get_versions_with_contract_overlap_with_period(date_from, date_to)
        return batch.overlapping(self, date_from, date_to)
