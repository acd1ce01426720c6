import base64
import datetime
import logging
import time

import pytz

from odoo import api, fields, models
from odoo.exceptions import AccessError, UserError
from odoo.tools.image import image_process

from ..compat import EMPLOYEE_VERSIONS, constraint
from ..dingtalk import avatars as dt_avatars

_logger = logging.getLogger(__name__)

AVATAR_BATCH = 20  # pictures downloaded, then written, together: never more than these in memory at once
AVATAR_BUDGET = 60.0  # seconds one call spends on pictures at most; the others wait for the next sync
AVATAR_TIMEOUT = 5.0  # seconds for one picture (a first sign-in waits for its own)
IMAGE_FIELDS = ["image_1920", "image_1024", "image_512", "image_256", "image_128"]
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
    # events read people by department and by manager too (on Odoo 19 the department is a field of the
    # employee's hr.version, indexed there already)
    if not EMPLOYEE_VERSIONS:
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
    dingtalk_avatar_url = fields.Char(
        "DingTalk Photo URL",
        copy=False,
        readonly=True,
        groups="base.group_system",
        help="The DingTalk photo last downloaded as this employee's picture.",
    )

    _dingtalk_userid_company_uniq = constraint(
        "unique(company_id, dingtalk_userid)", "A DingTalk person is bound to one employee per company."
    )

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

    def _dingtalk_update_avatars(self, url_by_employee_id, company):
        """Make the DingTalk photos (``avatar`` of user/get and user/list) of these employees (id → URL) their
        pictures. Only URLs that changed since the last download are fetched, ``AVATAR_BATCH`` at a time, by
        a small pool that only does HTTP (dingtalk/avatars.py); the pictures are written here. Returns
        employee id → translated reason for the pictures not downloaded: the caller logs them. A picture never
        fails a sync, and one not downloaded is tried again by the next.

        - The employee's picture follows DingTalk, as its name does. So does the user's, but only for users
          the sync created for this person: a matched user is someone's own account, whose picture (like its
          name) stays theirs.
        - No photo (DingTalk sends no ``avatar`` for its default picture) clears nothing: the sync cannot tell
          the old DingTalk photo from a picture set in Odoo since, and never deletes the latter. The URL is
          forgotten, so that the next photo is downloaded even if it is the same file again."""
        if not company.dingtalk_sync_avatars or not url_by_employee_id:
            return {}
        quiet = {"active_test": False, "tracking_disable": True, "mail_notrack": True}
        urls = {key: url or False for key, url in url_by_employee_id.items()}
        employees = self.sudo().with_context(**quiet).browse(list(urls))
        changed = employees.filtered(lambda employee: urls[employee.id] != employee.dingtalk_avatar_url)
        changed.filtered(lambda employee: not urls[employee.id]).write({"dingtalk_avatar_url": False})
        todo = changed.filtered(lambda employee: urls[employee.id])
        messages, deadline = {}, time.monotonic() + AVATAR_BUDGET
        for start in range(0, len(todo), AVATAR_BATCH):
            if time.monotonic() > deadline:
                _logger.info("DingTalk: %s pictures left for the next sync (time spent)", len(todo) - start)
                break
            batch = todo[start : start + AVATAR_BATCH]
            images, failures = dt_avatars.download_avatars(
                {employee.id: urls[employee.id] for employee in batch}, timeout=AVATAR_TIMEOUT
            )
            failures.update(batch._dingtalk_write_avatars(images, urls))
            untried = [key for key, failure in failures.items() if failure.code == "skipped"]
            messages.update(
                (key, self._dingtalk_avatar_message(failure))
                for key, failure in failures.items()
                if key not in untried
            )
            if untried:  # the pictures' server is out of reach: no more timeouts for the others
                untried += todo[start + AVATAR_BATCH :].ids
                messages[untried[0]] = self.env._(
                    "%(count)s profile pictures were not tried after repeated network failures; the next "
                    "sync tries again.",
                    count=len(untried),
                )
                break
        return messages

    def _dingtalk_write_avatars(self, images, url_by_employee_id):
        """Write the downloaded pictures (employee id → bytes) on these employees and on the users the sync
        created for them; returns employee id → AvatarFailure for the images Odoo cannot process."""
        failures = {}
        for employee in self.filtered(lambda employee: employee.id in images):
            try:  # processed before anything is written, so that a bad image leaves no half write
                image = image_process(images[employee.id], size=(1920, 1920), verify_resolution=True)
            except (UserError, ValueError, OSError) as error:
                failures[employee.id] = dt_avatars.AvatarFailure("not_image", type(error).__name__)
                continue
            image = base64.b64encode(image)
            employee.write({"image_1920": image, "dingtalk_avatar_url": url_by_employee_id[employee.id]})
            user = employee.user_id
            if user.dingtalk_created and user.dingtalk_userid == employee.dingtalk_userid:
                # on its partner (where a user's picture is stored): res.users.write would have hr copy it
                # onto the employee again, after searching the employees by picture
                user.partner_id.write({"image_1920": image})
        # written, then dropped from the cache: a sync holds the pictures of one batch at a time
        self.invalidate_recordset(IMAGE_FIELDS)
        self.user_id.partner_id.invalidate_recordset(IMAGE_FIELDS)
        return failures

    def _dingtalk_avatar_message(self, failure):
        reasons = {
            "bad_url": self.env._("the URL cannot be downloaded"),
            "http_status": self.env._("the server answered with an error"),
            "content_type": self.env._("the server did not send an image"),
            "too_big": self.env._("the image is too big"),
            "not_image": self.env._("the file is not a readable image"),
            "timeout": self.env._("the download took too long"),
            "network": self.env._("the server could not be reached"),
            "error": self.env._("an unexpected error (see the server log)"),
        }
        return self.env._(
            "Profile picture not downloaded: %(reason)s (%(detail)s). The next sync tries again.",
            reason=reasons.get(failure.code, failure.code),
            detail=failure.detail or failure.code,
        )


def _local_date(epoch_ms, company):
    """DingTalk's hired_date (ms since the epoch) as the calendar day in the company's DingTalk time zone."""
    if not epoch_ms:
        return False
    tz = pytz.timezone(company.dingtalk_timezone)
    moment = datetime.datetime.fromtimestamp(int(epoch_ms) / 1000, tz=datetime.UTC)
    return moment.astimezone(tz).date()
