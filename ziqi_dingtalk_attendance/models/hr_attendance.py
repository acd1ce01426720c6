from odoo import api, fields, models
from odoo.addons.ziqi_dingtalk.compat import constraint
from odoo.exceptions import AccessError

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

    def _dingtalk_check_import(self):
        if self.env.context.get(IMPORT) is not _IMPORT_TOKEN and not self.env.su:
            raise AccessError(self.env._("Only the DingTalk import sets an attendance's DingTalk shift."))
