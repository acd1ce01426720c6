from odoo import fields, models


class ResUsers(models.Model):
    _inherit = "res.users"

    dingtalk_granted_group_ids = fields.Many2many(
        "res.groups",
        "res_users_dingtalk_granted_group_rel",
        "user_id",
        "group_id",
        string="Groups Granted by DingTalk Roles",
        copy=False,
        readonly=True,
        groups="base.group_system",
        help="Groups the DingTalk sync added because of the user's roles; only these are ever taken away.",
    )

    def _prepare_dingtalk_vals(self, payload, company):
        """Mapper: a topapi user object → values of a new internal user (login chosen by the setting)."""
        login = {
            "userid": payload["userid"],
            "mobile": payload.get("mobile"),
            "email": payload.get("org_email") or payload.get("email"),
        }[company.dingtalk_login_field] or payload["userid"]
        return {
            "name": (payload.get("name") or "").strip() or payload["userid"],
            "login": login,
            "email": payload.get("org_email") or payload.get("email") or False,
            "company_id": company.id,
            "company_ids": [(6, 0, [company.id])],
            "groups_id": [(6, 0, [self.env.ref("base.group_user").id])],
        }
