from odoo import api, models


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
