from odoo import api, fields, models
from odoo.addons.ziqi_dingtalk.compat import ODOO_19, constraint
from odoo.exceptions import AccessError, ValidationError
from odoo.tools import format_datetime

from .overtime_batch import only_known_overrides, update_overtime

# fields only the DingTalk import writes (the binding and what DingTalk said last)
BINDING_FIELDS = ("dingtalk_key", "dingtalk_work_date", "dingtalk_check_in", "dingtalk_check_out")
IMPORT = "ziqi_dingtalk_attendance_import"
_IMPORT_TOKEN = object()


def importing(records):
    """``records`` as the DingTalk import writes them: the only code that may set the binding fields."""
    return records.with_context(**{IMPORT: _IMPORT_TOKEN})


class HrAttendance(models.Model):
    """An attendance made of one DingTalk shift: the OnDuty and OffDuty punch results of one plan.

    ``dingtalk_key`` is the shift's key (the OnDuty result's id, docs/dingtalk-attendance-protocol.md §3).
    ``dingtalk_check_in``/``dingtalk_check_out`` are the times DingTalk gave at the last import: the import
    writes check_in/check_out only when DingTalk's times change, so an HR correction in Odoo stays until
    DingTalk itself says something new."""

    _inherit = "hr.attendance"

    in_mode = fields.Selection(selection_add=[("dingtalk", "DingTalk")], ondelete={"dingtalk": "set default"})
    out_mode = fields.Selection(
        selection_add=[("dingtalk", "DingTalk")], ondelete={"dingtalk": "set default"}
    )
    dingtalk_key = fields.Char("DingTalk shift", copy=False, readonly=True, index="btree_not_null")
    dingtalk_work_date = fields.Date("DingTalk work day", copy=False, readonly=True)
    dingtalk_check_in = fields.Datetime("Check-in in DingTalk", copy=False, readonly=True)
    dingtalk_check_out = fields.Datetime("Check-out in DingTalk", copy=False, readonly=True)

    _dingtalk_key_uniq = constraint(
        "unique(employee_id, dingtalk_key)", "A DingTalk shift makes one attendance per employee."
    )

    @api.model_create_multi
    def create(self, vals_list):
        if any(field in vals for vals in vals_list for field in BINDING_FIELDS):
            self._dingtalk_check_import()
        return super().create(vals_list)

    def write(self, vals):
        if any(field in vals for field in BINDING_FIELDS):
            self._dingtalk_check_import()
        return super().write(vals)

    @api.constrains("check_in", "check_out", "employee_id")
    def _check_validity(self):
        """Odoo checks each attendance with two searches; the attendances the import writes, all complete,
        are checked with one query: none may overlap another attendance of its employee, as Odoo's check
        says (one that ends after it starts and starts before it ends, or an open one starting within)."""
        if self.env.context.get(IMPORT) is not _IMPORT_TOKEN or not all(self.mapped("check_out")):
            return super()._check_validity()
        self.flush_model(["employee_id", "check_in", "check_out"])
        self.env.cr.execute(
            """SELECT mine.id FROM hr_attendance mine
                 JOIN hr_attendance other ON other.employee_id = mine.employee_id AND other.id != mine.id
                WHERE mine.id IN %s AND other.check_in < mine.check_out
                  AND (other.check_out > mine.check_in
                       OR (other.check_out IS NULL AND other.check_in > mine.check_in))
                LIMIT 1""",
            [tuple(self.ids)],
        )
        row = self.env.cr.fetchone()
        if row:
            attendance = self.browse(row[0])
            raise ValidationError(
                self.env._(
                    "Cannot create new attendance record for %(empl_name)s, the employee was already "
                    "checked in on %(datetime)s",
                    empl_name=attendance.employee_id.name,
                    datetime=format_datetime(self.env, attendance.check_in, dt_format=False),
                )
            )

    def _update_overtime(self, *args, **kwargs):
        """Odoo 18 searches each employee's attendances and overtime of the days concerned, two searches per
        employee; for the attendances the import creates (called without arguments) the same is done with
        two searches for the batch (overtime_batch), unless another addon overrides the method too. Odoo 19
        already searches once per batch."""
        if (
            ODOO_19
            or args
            or kwargs
            or self.env.context.get(IMPORT) is not _IMPORT_TOKEN
            or not only_known_overrides(type(self))
        ):
            return super()._update_overtime(*args, **kwargs)
        return update_overtime(self)

    def _dingtalk_check_import(self):
        if self.env.context.get(IMPORT) is not _IMPORT_TOKEN and not self.env.su:
            raise AccessError(self.env._("Only the DingTalk import sets an attendance's DingTalk shift."))
