import logging

from odoo import api, fields, models
from odoo.addons.ziqi_dingtalk.compat import constraint
from odoo.addons.ziqi_dingtalk.dingtalk import errors as dt_errors
from odoo.exceptions import AccessError, UserError

_logger = logging.getLogger(__name__)

UNITS = [("day", "Day"), ("halfDay", "Half Day"), ("hour", "Hour")]
# the fields of a type DingTalk says (compared before writing)
WIRE_FIELDS = ("name", "unit", "biz_type", "hours_per_day")
# what an admin maps; the rest is DingTalk's, written by the refresh (sudo)
MAPPING_FIELDS = {"holiday_status_id", "allocate"}


class ZiqiDingtalkLeaveType(models.Model):
    """A DingTalk leave type (假期类型) and the Odoo time off type its leave is imported as."""

    _name = "ziqi.dingtalk.leave.type"
    _description = "DingTalk Leave Type"
    _order = "company_id, name, id"

    company_id = fields.Many2one(
        "res.company", required=True, readonly=True, index=True, default=lambda self: self.env.company
    )
    leave_code = fields.Char("DingTalk Code", required=True, readonly=True)
    name = fields.Char(required=True, readonly=True)
    unit = fields.Selection(UNITS, readonly=True, help="The unit DingTalk shows this type's leave in.")
    biz_type = fields.Char("DingTalk Kind", readonly=True, help="general_leave, or lieu_leave (调休).")
    hours_per_day = fields.Float(readonly=True, help="Hours DingTalk counts in one day of this type.")
    active = fields.Boolean(default=True, help="Archived when DingTalk no longer lists this type.")
    holiday_status_id = fields.Many2one(
        "hr.leave.type",
        "Odoo Time Off Type",
        domain="[('company_id', 'in', (False, company_id))]",
        help="The time off type this DingTalk type's leave is imported as; empty: not imported yet.",
    )
    allocate = fields.Boolean(
        "Top up allocations",
        help="When the employee's allocation does not cover a leave approved in DingTalk, create a "
        "validated allocation for the missing amount first. Unchecked: the leave is not imported "
        "(shown as failed) until HR allocates.",
    )
    leave_count = fields.Integer("Leaves", compute="_compute_leave_count")

    _company_code_uniq = constraint(
        "unique(company_id, leave_code)", "Each DingTalk leave type is stored once per company."
    )

    def _compute_leave_count(self):
        groups = self.env["ziqi.dingtalk.leave"]._read_group(
            [("leave_type_id", "in", self.ids)], ["leave_type_id"], ["__count"]
        )
        counts = {leave_type.id: count for leave_type, count in groups}
        for leave_type in self:
            leave_type.leave_count = counts.get(leave_type.id, 0)

    def write(self, vals):
        if not self.env.su:
            if set(vals) - MAPPING_FIELDS:
                raise AccessError(self.env._("Only the mapping of a DingTalk leave type can be edited."))
            odoo_type = self.env["hr.leave.type"].browse(vals.get("holiday_status_id"))
            if odoo_type.company_id and self.filtered(lambda t: t.company_id != odoo_type.company_id):
                raise UserError(self.env._("Map to a time off type of the same company."))
        result = super().write(vals)
        if vals.get("holiday_status_id") or vals.get("allocate"):
            # the leave waiting for this mapping (or for an allocation) is imported now
            self.env["ziqi.dingtalk.leave.importer"]._import_waiting(self)
        return result

    def action_view_leaves(self):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id(
            "ziqi_dingtalk_leave.action_ziqi_dingtalk_leave"
        )
        action["domain"] = [("leave_type_id", "=", self.id)]
        return action

    @api.model
    def _refresh_company(self, company):
        """Read the company's leave types from DingTalk: new ones are added, those changed are updated,
        those DingTalk no longer lists are archived. Returns the types DingTalk listed."""
        admin = (company.sudo().dingtalk_leave_admin_userid or "").strip()
        if not admin:
            raise UserError(
                self.env._(
                    "Set the DingTalk leave administrator (a userid with OA rights) to read leave types."
                )
            )
        client = company._dingtalk_attendance_client()
        try:
            listed = client.leave_types(admin)
        except dt_errors.APIError as error:
            raise UserError(
                self.env._(
                    "DingTalk refused to list the leave types for %(userid)s (is it an administrator with "
                    "OA rights?): %(error)s",
                    userid=admin,
                    error=error,
                )
            ) from error
        return self._apply_listed(company, listed)

    def _apply_listed(self, company, listed):
        types = self.sudo().with_context(active_test=False)
        known = {t.leave_code: t for t in types.search([("company_id", "=", company.id)])}
        seen, to_create = types.browse(), []
        for wire in listed:
            vals = self._prepare_type_vals(wire)
            current = known.get(wire.code)
            if current is None:
                to_create.append(dict(vals, company_id=company.id, leave_code=wire.code))
                continue
            seen |= current
            changed = {k: v for k, v in vals.items() if current[k] != v}
            if changed:
                current.write(changed)
        gone = types.browse([t.id for t in known.values()]) - seen
        gone.filtered("active").write({"active": False})
        created = types.create(to_create) if to_create else types.browse()
        _logger.info(
            "DingTalk leave types of %s: %s listed, %s new, %s archived",
            company.name,
            len(listed),
            len(created),
            len(gone),
        )
        return seen | created

    @api.model
    def _prepare_type_vals(self, wire):
        """The fields of a type from DingTalk's ``LeaveType`` (plain values; listed ones are active)."""
        return {
            "name": wire.name or wire.code,
            "unit": wire.unit if wire.unit in dict(UNITS) else False,
            "biz_type": wire.biz_type or False,
            "hours_per_day": wire.hours_per_day,
            "active": True,
        }
