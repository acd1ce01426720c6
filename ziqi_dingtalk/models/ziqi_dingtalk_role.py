import collections

from odoo import api, fields, models
from odoo.exceptions import ValidationError
from odoo.tools import SQL

from ..compat import GROUP_ALL_USERS, GROUP_USERS, constraint

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

    _dingtalk_id_company_uniq = constraint(
        "unique(company_id, dingtalk_id)", "A DingTalk role is bound once per company."
    )

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
                if self._implied_closure(group) & forbidden:
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

    # --- the Odoo groups of the roles, for their members (called by the importer, quiet and sudo) ---

    @api.model
    def _dingtalk_apply_groups(self, company, report):
        """Members of a role get its groups and what they imply; what the sync gave is taken back when no
        role gives it any more. A group that is or implies an admin group is never granted (reported)."""
        Role = self.with_context(active_test=True)
        desired = collections.defaultdict(set)
        for role in Role.search([("company_id", "=", company.id), ("group_ids", "!=", False)]):
            users = role.employee_ids.filtered("active").user_id.filtered("active")
            for group in role.group_ids:
                for granted_group in self._grantable(role, group, report):
                    desired[granted_group.id] |= set(users.ids)
        granted = self._granted_groups(company)
        groups = self.env["res.groups"].browse(sorted(set(desired) | set(granted)))
        # who had each group before any write: Odoo adds implied groups as a group gains users, and what
        # the sync records as its own grant is exactly what a user did not have before
        before = {group.id: set(group[GROUP_ALL_USERS].ids) for group in groups}
        gained = set()
        for group in groups:
            add = desired[group.id] - before[group.id]
            revoke = (granted[group.id] - desired[group.id]) & before[group.id]
            if add or revoke:
                group.write({GROUP_USERS: [(4, uid) for uid in add] + [(3, uid) for uid in revoke]})
            gained |= add
            self._record_grants(group.id, add, granted[group.id] - desired[group.id])
        self.env["discuss.channel"]._dingtalk_subscribe(self.env["res.users"].browse(sorted(gained)))

    @api.model
    def _implied_closure(self, groups):
        """``groups`` and every group they imply, read from the implication table itself, not from Odoo's
        computed closure: Odoo 19 caches it (until the registry's group cache is cleared), and a link
        written behind the ORM's back (SQL, another worker) counts the moment it is in the table."""
        self.env["res.groups"].flush_model(["implied_ids"])
        self.env.cr.execute(
            SQL(
                """WITH RECURSIVE closure(id) AS (
                       SELECT unnest(%s::int[])
                       UNION SELECT r.hid FROM res_groups_implied_rel r JOIN closure c ON r.gid = c.id)
                   SELECT id FROM closure""",
                groups.ids,
            )
        )
        return groups.browse([row[0] for row in self.env.cr.fetchall()])

    @api.model
    def _grantable(self, role, group, report):
        """``group`` and the groups it implies, or nothing when any of them is an admin group: the role's
        mapping was checked when it was saved, but a group can be made to imply more afterwards."""
        closure = self._implied_closure(group)
        if closure & self._forbidden_groups():
            report.problem(
                "roles",
                role.dingtalk_id,
                self.env._(
                    "The role %(role)s maps to %(group)s, which gives administration rights: not granted.",
                    role=role.name,
                    group=group.full_name,
                ),
            )
            return group.browse()
        return closure

    @api.model
    def _granted_groups(self, company):
        """Group id → users the sync gave it to, among the company's active bound people."""
        self.env["res.users"].flush_model(["dingtalk_granted_group_ids"])
        self.env["hr.employee"].flush_model(["dingtalk_userid", "active", "company_id", "user_id"])
        self.env.cr.execute(
            SQL(
                """SELECT DISTINCT g.group_id, g.user_id FROM res_users_dingtalk_granted_group_rel g
                   JOIN hr_employee e ON e.user_id = g.user_id
                   WHERE e.company_id = %s AND e.dingtalk_userid IS NOT NULL AND e.active""",
                company.id,
            )
        )
        granted = collections.defaultdict(set)
        for group_id, user_id in self.env.cr.fetchall():
            granted[group_id].add(user_id)
        return granted

    @api.model
    def _record_grants(self, group_id, added, dropped):
        """Record what the sync gave (``added``) and no longer gives (``dropped``) of a group: in the relation
        itself, one statement each, as a role can give a group to thousands of people at once."""
        if added:
            self.env.cr.execute(
                SQL(
                    """INSERT INTO res_users_dingtalk_granted_group_rel (user_id, group_id)
                       SELECT unnest(%s), %s ON CONFLICT DO NOTHING""",
                    sorted(added),
                    group_id,
                )
            )
        if dropped:
            self.env.cr.execute(
                SQL(
                    """DELETE FROM res_users_dingtalk_granted_group_rel
                       WHERE group_id = %s AND user_id = ANY(%s)""",
                    group_id,
                    sorted(dropped),
                )
            )
        if added or dropped:
            self.env["res.users"].invalidate_model(["dingtalk_granted_group_ids"])
