"""Bind users to their DingTalk person, where the rules of automatic binding allow it (sign-in now checks
the user's own binding). Privileged, system, portal and archived accounts stay unbound: an administrator
binds and confirms them by hand (Settings → Users → DingTalk)."""

from odoo import SUPERUSER_ID, api


def migrate(cr, version):
    env = api.Environment(cr, SUPERUSER_ID, {"active_test": False})
    employees = env["hr.employee"].search([("dingtalk_userid", "!=", False), ("user_id", "!=", False)])
    bindable = employees.user_id._dingtalk_bindable()
    bound = env["res.users"]
    for employee in employees:
        user = employee.user_id
        if user in bindable and user not in bound:
            user.write(
                {"dingtalk_userid": employee.dingtalk_userid, "dingtalk_company_id": employee.company_id.id}
            )
            bound |= user
