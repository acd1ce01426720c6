from odoo import fields, models

from ..compat import constraint


class HrDepartment(models.Model):
    _inherit = "hr.department"

    dingtalk_id = fields.Char("DingTalk Department Id", copy=False, index=True, readonly=True)
    dingtalk_order = fields.Integer("DingTalk Order", copy=False, readonly=True)
    dingtalk_manager_userids = fields.Json(
        "DingTalk Managers", copy=False, readonly=True, help="DingTalk's dept_manager_userid_list: userids."
    )

    _dingtalk_id_company_uniq = constraint(
        "unique(company_id, dingtalk_id)", "A DingTalk department is bound to one department per company."
    )

    def _prepare_dingtalk_vals(self, payload):
        """Mapper: department/get result → hr.department values (the parent is resolved by the sync)."""
        managers = payload.get("dept_manager_userid_list") or []
        return {
            "name": (payload.get("name") or "").strip() or str(payload["dept_id"]),
            "dingtalk_order": int(payload.get("order") or 0),
            "dingtalk_manager_userids": [str(userid) for userid in managers] or False,
        }
