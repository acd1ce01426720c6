import datetime

import pytz

from odoo import fields, models

DEFAULT_TZ = "Asia/Shanghai"


class HrEmployee(models.Model):
    _inherit = "hr.employee"

    # Odoo looks employees up by work contact for every employee it creates (``partner.employee_ids``);
    # without an index each lookup reads the whole table, so a sync's batches slowed as the company grew
    work_contact_id = fields.Many2one(index="btree_not_null")
    # Odoo moves a department's people to its new manager by searching them by department and manager (on
    # a first sync: once per department, a scan of the whole table each time); the managers step and the
    # events read people by department and by manager too
    department_id = fields.Many2one(index="btree_not_null")
    parent_id = fields.Many2one(index="btree_not_null")

    dingtalk_userid = fields.Char(
        "DingTalk userid", copy=False, index=True, readonly=True, groups="hr.group_hr_user"
    )
    dingtalk_unionid = fields.Char("DingTalk unionid", copy=False, readonly=True, groups="hr.group_hr_user")
    dingtalk_job_number = fields.Char("Job Number", copy=False, groups="hr.group_hr_user")
    dingtalk_hired_date = fields.Date("Hire Date", copy=False, groups="hr.group_hr_user")
    dingtalk_department_ids = fields.Many2many(
        "hr.department",
        "hr_employee_dingtalk_department_rel",
        "employee_id",
        "department_id",
        string="DingTalk Departments",
        copy=False,
        groups="hr.group_hr_user",
        help="Every DingTalk department this person belongs to; the main one is the Department field.",
    )
    dingtalk_manager_userid = fields.Char(
        "DingTalk Manager userid",
        copy=False,
        index="btree_not_null",
        readonly=True,
        groups="hr.group_hr_user",
    )
    dingtalk_role_ids = fields.Many2many(
        "ziqi.dingtalk.role",
        "ziqi_dingtalk_role_employee_rel",
        "employee_id",
        "role_id",
        string="DingTalk Roles",
        copy=False,
        readonly=True,
        groups="hr.group_hr_user",
    )

    _sql_constraints = [
        (
            "dingtalk_userid_company_uniq",
            "unique(company_id, dingtalk_userid)",
            "A DingTalk person is bound to one employee per company.",
        )
    ]

    def _prepare_dingtalk_vals(self, payload, company):
        """Mapper: a topapi user object → hr.employee values (departments and manager come separately)."""
        vals = {
            "name": (payload.get("name") or "").strip() or payload["userid"],
            "job_title": payload.get("title") or False,
            "work_email": payload.get("org_email") or payload.get("email") or False,
            "mobile_phone": payload.get("mobile") or False,
            "work_phone": payload.get("telephone") or False,
            "dingtalk_unionid": payload.get("unionid") or False,
            "dingtalk_job_number": payload.get("job_number") or False,
            "dingtalk_hired_date": _local_date(payload.get("hired_date"), company),
        }
        if "manager_userid" in payload:
            # topapi/v2/user/list may not carry it (unknown: keep what we have); user/get always does
            vals["dingtalk_manager_userid"] = payload["manager_userid"] or False
        return vals


def _local_date(epoch_ms, company):
    """DingTalk's hired_date (ms since the epoch) as the calendar day in the company's timezone."""
    if not epoch_ms:
        return False
    tz = pytz.timezone(company.resource_calendar_id.tz or DEFAULT_TZ)
    moment = datetime.datetime.fromtimestamp(int(epoch_ms) / 1000, tz=datetime.UTC)
    return moment.astimezone(tz).date()
