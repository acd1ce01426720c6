import time

from odoo import api, fields, models
from odoo.exceptions import AccessDenied
from odoo.tools import consteq
from odoo.tools.misc import hmac as odoo_hmac

LOGIN_TOKEN_SCOPE = "ziqi_dingtalk-login"
LOGIN_TOKEN_TTL = 60  # seconds: the token never leaves the server, it only crosses into authenticate()


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
        """The active Odoo user bound to this DingTalk person in this company; created (as the sync would)
        when the company allows it. Raises DingTalkLoginError with a short code otherwise."""
        Employee = self.env["hr.employee"].sudo().with_context(active_test=False)
        employee = Employee.search(
            [("company_id", "=", company.id), ("dingtalk_userid", "=", userid)], limit=1
        )
        if not employee and company.sudo().dingtalk_login_create:
            payload = company._dingtalk_client().user_get(userid)
            applier = self.env["ziqi.dingtalk.sync.run"].with_context(dingtalk_company_id=company.id)
            applier._apply_user_get_payloads({userid: payload})
            employee = Employee.search([("company_id", "=", company.id), ("dingtalk_userid", "=", userid)])
        if not employee:
            raise DingTalkLoginError("unknown")
        user = employee.user_id
        if not (employee.active and user and user.active):
            raise DingTalkLoginError("archived")
        return user


class DingTalkLoginError(Exception):
    """Sign-in refused; ``code`` is what the login page explains (never the exception text)."""

    def __init__(self, code):
        super().__init__(code)
        self.code = code
