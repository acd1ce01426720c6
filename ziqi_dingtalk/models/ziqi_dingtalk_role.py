from odoo import api, fields, models
from odoo.exceptions import ValidationError

# Groups a DingTalk role may never grant, nor any group implying them.
FORBIDDEN_GROUPS = ("base.group_system", "base.group_erp_manager")


class ZiqiDingtalkRole(models.Model):
    _name = "ziqi.dingtalk.role"
    _description = "DingTalk Role"
    _order = "group_name, name, id"

    name = fields.Char(required=True, readonly=True)
    dingtalk_id = fields.Char("DingTalk Role Id", required=True, readonly=True, index=True)
    group_name = fields.Char("Role Group", readonly=True)
    dingtalk_group_id = fields.Char("DingTalk Role Group Id", readonly=True)
    company_id = fields.Many2one("res.company", required=True, readonly=True, default=lambda s: s.env.company)
    active = fields.Boolean(default=True)
    employee_ids = fields.Many2many(
        "hr.employee",
        "ziqi_dingtalk_role_employee_rel",
        "role_id",
        "employee_id",
        string="Members",
        readonly=True,
    )
    member_count = fields.Integer(compute="_compute_member_count")
    group_ids = fields.Many2many(
        "res.groups",
        "ziqi_dingtalk_role_group_rel",
        "role_id",
        "group_id",
        string="Odoo Groups",
        help="Members of this DingTalk role get these Odoo groups on every sync, and lose them when they "
        "leave the role. Groups given by hand are never taken away.",
    )
    category_id = fields.Many2one(
        "hr.employee.category", "Employee Tag", readonly=True, help="Tag carried by the members."
    )

    _sql_constraints = [
        (
            "dingtalk_id_company_uniq",
            "unique(company_id, dingtalk_id)",
            "A DingTalk role is bound once per company.",
        )
    ]

    @api.depends("employee_ids")
    def _compute_member_count(self):
        for role in self:
            role.member_count = len(role.employee_ids)

    @api.model
    def _forbidden_groups(self):
        forbidden = self.env["res.groups"]
        for xmlid in FORBIDDEN_GROUPS:
            forbidden |= self.env.ref(xmlid, raise_if_not_found=False) or forbidden
        return forbidden

    @api.constrains("group_ids")
    def _check_group_ids(self):
        forbidden = self._forbidden_groups()
        for role in self:
            for group in role.group_ids:
                if (group | group.trans_implied_ids) & forbidden:
                    raise ValidationError(
                        self.env._(
                            "The DingTalk role %(role)s cannot grant %(group)s: a sync never gives "
                            "administration rights.",
                            role=role.name,
                            group=group.full_name,
                        )
                    )

    def _prepare_dingtalk_vals(self, payload):
        """Mapper: a role of topapi/role/list (flattened with its group) → role values."""
        return {
            "name": (payload.get("name") or "").strip() or str(payload["id"]),
            "group_name": payload.get("group_name") or False,
            "dingtalk_group_id": str(payload["group_id"]) if payload.get("group_id") is not None else False,
        }
