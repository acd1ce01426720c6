import datetime

import pytz

from odoo import api, fields, models
from odoo.exceptions import AccessError

DEFAULT_TZ = "Asia/Shanghai"
# the DingTalk binding of an employee: whoever sets these decides whose DingTalk sign-in opens which
# account and which role groups follow, so only the sync (superuser) and Settings admins write them
BINDING_FIELDS = ("dingtalk_userid", "dingtalk_unionid", "dingtalk_role_ids", "dingtalk_manager_userid")


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

    dingtalk_activated = fields.Boolean(
        "Activated DingTalk",
        copy=False,
        readonly=True,
        groups="hr.group_hr_user",
        help="The person has activated (logged in to) DingTalk. New hires have not yet: they are staff "
        "all the same.",
    )
    dingtalk_archived_by_sync = fields.Boolean(
        "Archived by the DingTalk Sync",
        copy=False,
        readonly=True,
        groups="hr.group_hr_user",
        help="Archived because DingTalk said the person left: only such employees are reactivated by the "
        "sync.",
    )
    dingtalk_archived_at = fields.Datetime(
        "Archived by DingTalk on", copy=False, readonly=True, groups="hr.group_hr_user"
    )

    _sql_constraints = [
        (
            "dingtalk_userid_company_uniq",
            "unique(company_id, dingtalk_userid)",
            "A DingTalk person is bound to one employee per company.",
        )
    ]

    @api.model_create_multi
    def create(self, vals_list):
        for vals in vals_list:
            # a new employee's empty binding is no binding (forms send their defaults)
            self._check_dingtalk_binding_write({key: value for key, value in vals.items() if value})
        return super().create(vals_list)

    def write(self, vals):
        self._check_dingtalk_binding_write(vals)
        return super().write(vals)

    def _check_dingtalk_binding_write(self, vals):
        """Refuse a change of the DingTalk binding (or of a bound employee's user) by anyone but the sync
        and Settings admins: an HR Officer rebinding an employee would pick the account they sign in to."""
        if self.env.su or self.env.user.has_group("base.group_system"):
            return
        touched = [fname for fname in BINDING_FIELDS if fname in vals]
        if "user_id" in vals and any(self.sudo().mapped("dingtalk_userid")):
            touched.append("user_id")
        if touched:
            raise AccessError(
                self.env._(
                    "Only the DingTalk sync and administrators may change the DingTalk binding of an "
                    "employee (%(fields)s).",
                    fields=", ".join(touched),
                )
            )

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
            "dingtalk_activated": bool(payload.get("active", True)),
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
