import logging
import time

from odoo import api, fields, models
from odoo.exceptions import AccessDenied
from odoo.tools import consteq
from odoo.tools.misc import hmac as odoo_hmac

from ..compat import USER_ALL_GROUPS, USER_GROUPS, constraint
from .import_report import ImportReport

_logger = logging.getLogger(__name__)

LOGIN_TOKEN_SCOPE = "ziqi_dingtalk-login"
LOGIN_TOKEN_TTL = 60  # seconds: the token never leaves the server, it only crosses into authenticate()
# accounts the sync never binds automatically nor reactivates, whatever DingTalk says
SYSTEM_USERS = ("base.user_root", "base.user_admin", "base.default_user", "base.public_user")
# groups that make an account privileged: automatic binding never reaches it, sign-in needs confirmation
ADMIN_GROUPS = ("base.group_system", "base.group_erp_manager")


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
    # The binding, on the user itself: sign-in opens a user only when this names the DingTalk person
    # (the employee's binding alone is HR data and is not enough). Written by the sync and admins only.
    dingtalk_userid = fields.Char("DingTalk userid", copy=False, readonly=True, groups="base.group_system")
    dingtalk_company_id = fields.Many2one(
        "res.company", "DingTalk Company", copy=False, readonly=True, groups="base.group_system"
    )
    dingtalk_created = fields.Boolean(
        "Created by DingTalk",
        copy=False,
        readonly=True,
        groups="base.group_system",
        help="The sync created this user, so it keeps its name in step with DingTalk. A user it matched "
        "keeps the name it had.",
    )
    dingtalk_archived_by_sync = fields.Boolean(
        "Archived by the DingTalk Sync",
        copy=False,
        readonly=True,
        groups="base.group_system",
        help="Archived because DingTalk said the person left: only such users are reactivated by the sync.",
    )
    dingtalk_signin_confirmed = fields.Boolean(
        "DingTalk Sign-in Confirmed",
        copy=False,
        groups="base.group_system",
        help="An administrator confirmed that this DingTalk person may sign in to this account although it "
        "has Settings or Access Rights. Without it, DingTalk sign-in into a privileged account is refused.",
    )

    _dingtalk_binding_uniq = constraint(
        "unique(dingtalk_company_id, dingtalk_userid)", "A DingTalk person is bound to one user per company."
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
            USER_GROUPS: [(6, 0, [self.env.ref("base.group_user").id])],
        }

    # --- who may be bound or signed in ---

    def _dingtalk_system_ids(self):
        """Ids of Odoo's own system accounts (SYSTEM_USERS; an xmlid may be missing: Odoo 19 has no
        base.default_user)."""
        return {user.id for xmlid in SYSTEM_USERS if (user := self.env.ref(xmlid, raise_if_not_found=False))}

    def _dingtalk_privileged(self):
        """The users of these with Settings or Access Rights, or one of Odoo's own system accounts."""
        system = self._dingtalk_system_ids()
        admin_groups = self.env["res.groups"]
        for xmlid in ADMIN_GROUPS:
            admin_groups |= self.env.ref(xmlid)
        return self.filtered(lambda user: user.id in system or user.sudo()[USER_ALL_GROUPS] & admin_groups)

    def _dingtalk_bindable(self):
        """The users of these that DingTalk data may bind to automatically: active internal accounts
        that are neither privileged nor bound yet."""
        candidates = self.sudo().filtered(
            lambda user: user.active and not user.share and not user.dingtalk_userid
        )
        return candidates - candidates._dingtalk_privileged()

    # --- sign-in with DingTalk ---

    def _dingtalk_login_token(self):
        """A short-lived credential proving DingTalk confirmed this user; used at once by the login routes
        with ``request.session.authenticate`` (it is never sent to the browser)."""
        self.ensure_one()
        expires = int(time.time()) + LOGIN_TOKEN_TTL
        signature = odoo_hmac(self.env(su=True), LOGIN_TOKEN_SCOPE, f"{self.id}:{expires}")
        return f"{expires}:{signature}"

    def _check_credentials(self, credential, env):
        if credential.get("type") != "dingtalk":
            return super()._check_credentials(credential, env)
        # a DingTalk credential is only ever made by our login routes, in the same request: interactive,
        # signed with the database secret, for this user, expiring within a minute; never a password
        expires, _sep, signature = str(credential.get("token") or "").partition(":")
        if not (env.get("interactive") and self.env.user.active and expires.isdigit()):
            raise AccessDenied()
        expected = odoo_hmac(self.env(su=True), LOGIN_TOKEN_SCOPE, f"{self.env.user.id}:{expires}")
        if int(expires) < time.time() or not consteq(expected, signature):
            raise AccessDenied()
        return {"uid": self.env.user.id, "auth_method": "dingtalk", "mfa": "default"}

    @api.model
    def _dingtalk_signin_user(self, company, userid):
        """The active Odoo user bound to this DingTalk person in this company; created (as the sync would,
        never matched to an existing account) when the company allows it. Raises DingTalkLoginError with
        a short code otherwise."""
        employee = self._dingtalk_signin_employee(company, userid)
        if not employee and company.sudo().dingtalk_login_create:
            report = ImportReport()
            client = company._dingtalk_client()
            self.env["ziqi.dingtalk.importer"]._refresh_people(company, client, [userid], report)
            for problem in report.problems:
                _logger.warning("DingTalk sign-in of %s: %s", problem.key or userid, problem.message)
            employee = self._dingtalk_signin_employee(company, userid)
        if not employee:
            raise DingTalkLoginError("unknown")
        user = employee.user_id.sudo()
        if not (employee.active and user and user.active):
            raise DingTalkLoginError("archived")
        if user.dingtalk_userid != userid or user.dingtalk_company_id != company:
            raise DingTalkLoginError("unknown")  # the employee points at an account not bound to this person
        if user._dingtalk_privileged() and not user.dingtalk_signin_confirmed:
            raise DingTalkLoginError("privileged")
        return user

    @api.model
    def _dingtalk_signin_employee(self, company, userid):
        Employee = self.env["hr.employee"].sudo().with_context(active_test=False)
        return Employee.search([("company_id", "=", company.id), ("dingtalk_userid", "=", userid)], limit=1)


class DingTalkLoginError(Exception):
    """Sign-in refused; ``code`` is what the login page explains (never the exception text)."""

    def __init__(self, code):
        super().__init__(code)
        self.code = code
