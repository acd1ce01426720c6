import base64
import json
import logging
import re
import secrets
import time
from urllib.parse import urlencode, urlsplit

from odoo import http
from odoo.addons.web.controllers.home import Home
from odoo.http import request
from odoo.tools import consteq
from odoo.tools.misc import hmac as odoo_hmac

from ..compat import session_authenticate
from ..dingtalk import client as dt_client
from ..dingtalk import errors as dt_errors
from ..dingtalk.ratelimit import LimiterBusy
from ..models.res_users import DingTalkLoginError
from .throttle import admit_signin_attempt

_logger = logging.getLogger(__name__)

STATE_SCOPE = "ziqi_dingtalk-oauth-state"
STATE_TTL = 600  # seconds to scan the QR code
SESSION_KEY = "dingtalk_login_nonces"
DEFAULT_TARGET = "/web"
# DingTalk auth codes are short opaque tokens (32 hex digits today): anything else is refused unasked.
CODE_RE = re.compile(r"[A-Za-z0-9_-]{8,128}")


def _local_target(target):
    """A path on this site, or the default: never an absolute or protocol-relative URL (open redirect)."""
    if not isinstance(target, str) or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return DEFAULT_TARGET
    parts = urlsplit(target)
    return target if not (parts.scheme or parts.netloc) else DEFAULT_TARGET


def _sign(payload):
    return odoo_hmac(request.env(su=True), STATE_SCOPE, payload)


def make_state(company, target):
    """A CSRF state bound to this browser (a nonce kept in the session), this database, one use, 10 min."""
    nonce = secrets.token_urlsafe(16)
    nonces = [n for n in request.session.get(SESSION_KEY, []) if n][-4:]  # a few tabs at once
    request.session[SESSION_KEY] = [*nonces, nonce]
    data = {"d": request.db, "c": company.id, "n": nonce, "e": int(time.time()) + STATE_TTL, "r": target}
    payload = base64.urlsafe_b64encode(json.dumps(data, separators=(",", ":")).encode()).decode()
    return f"{payload}.{_sign(payload)}"


def check_state(state):
    """The state's data if it is ours, fresh, for this database and browser, and not used yet."""
    payload, _sep, signature = (state or "").partition(".")
    if not payload or not consteq(_sign(payload), signature):
        raise DingTalkLoginError("state")
    try:
        data = json.loads(base64.urlsafe_b64decode(payload.encode()))
    except ValueError:
        raise DingTalkLoginError("state") from None
    nonces = request.session.get(SESSION_KEY, [])
    if data.get("d") != request.db or data.get("e", 0) < time.time() or data.get("n") not in nonces:
        raise DingTalkLoginError("state")
    request.session[SESSION_KEY] = [n for n in nonces if n != data["n"]]  # single use
    return data


def login_error_message(code):
    env = request.env
    return {
        "state": env._("The DingTalk sign-in link has expired or was already used. Please try again."),
        "denied": env._("DingTalk sign-in was cancelled."),
        "unknown": env._(
            "Your DingTalk account is not linked to a user of this Odoo. Ask your administrator to sync you."
        ),
        "archived": env._("Your Odoo account is archived. Ask your administrator."),
        "not_member": env._(
            "Your DingTalk account is not a member of this company's DingTalk organisation. Sign in with "
            "the DingTalk account of your work, or ask your administrator to add you to the organisation."
        ),
        "corp": env._("This DingTalk organisation is not the one connected to this Odoo."),
        "failed": env._("DingTalk could not confirm who you are. Please try again."),
        "config": env._("Sign-in with DingTalk is not configured."),
        "too_many": env._("Too many sign-in attempts. Please wait a minute and try again."),
        "privileged": env._(
            "This Odoo account has administration rights: DingTalk sign-in to it needs an administrator's "
            "confirmation. Sign in with your password."
        ),
    }.get(code)


def sign_in(company, userid, target):
    """Open the session of the Odoo user bound to this DingTalk person; return where to go."""
    user = request.env["res.users"].sudo()._dingtalk_signin_user(company, userid)
    credential = {"type": "dingtalk", "login": user.login, "token": user._dingtalk_login_token()}
    session_authenticate(request, credential)
    return _local_target(target)


class DingTalkLogin(http.Controller):
    @http.route("/dingtalk/login", type="http", auth="public", methods=["GET"], sitemap=False, readonly=False)
    def login(self, redirect=None, company=None, **_kwargs):
        """Start the QR-code (OAuth2) sign-in on DingTalk's page, which comes back to /dingtalk/loginweb."""
        companies = request.env["res.company"]._dingtalk_configured_companies()
        company = companies.filtered(lambda c: str(c.id) == str(company))[:1] if company else companies[:1]
        if not company:
            return request.redirect("/web/login?dingtalk_error=config", 303)
        query = urlencode(
            {
                "redirect_uri": f"{request.httprequest.url_root.rstrip('/')}/dingtalk/loginweb",
                "response_type": "code",
                "client_id": company.dingtalk_app_key,
                "scope": "openid",
                "state": make_state(company, _local_target(redirect)),
                "prompt": "consent",
            }
        )
        return request.redirect(
            f"{company.dingtalk_login_url.rstrip('/')}/oauth2/auth?{query}", 303, local=False
        )

    @http.route(
        "/dingtalk/loginweb", type="http", auth="public", methods=["GET"], sitemap=False, readonly=False
    )
    def loginweb(self, state=None, code=None, authCode=None, **_kwargs):
        """DingTalk's redirect after the scan: check the state, resolve the person, sign in."""
        try:
            if not admit_signin_attempt():
                raise DingTalkLoginError("too_many")
            data = check_state(state)
            code = code or authCode
            if not code:
                raise DingTalkLoginError("denied")
            company = request.env["res.company"].sudo().browse(data["c"]).exists()
            if not company:
                raise DingTalkLoginError("config")
            userid = self._resolve(company._dingtalk_userid_from_oauth, code)
            target = sign_in(company, userid, data.get("r"))
        except DingTalkLoginError as error:
            _logger.info(
                "DingTalk QR sign-in refused (%s) from %s", error.code, request.httprequest.remote_addr
            )
            return request.redirect(f"/web/login?dingtalk_error={error.code}", 303)
        return request.redirect(target, 303)

    @http.route("/dingtalk/index.html", type="http", auth="public", methods=["GET"], sitemap=False)
    def inapp_page(self, corpid=None, **_kwargs):
        """The page DingTalk opens in its workbench (PC and mobile): it asks the JSAPI for an auth code."""
        Company = request.env["res.company"]
        company = Company._dingtalk_company_for_corp(corpid) or Company._dingtalk_configured_companies()[:1]
        return request.render(
            "ziqi_dingtalk.dingtalk_inapp_page",
            {
                "corp_id": corpid if corpid and "$" not in corpid else (company.dingtalk_corp_id or ""),
                "client_id": company.dingtalk_app_key or "",
            },
        )

    @http.route("/dingtalk/auth", type="http", auth="public", methods=["POST"], sitemap=False, readonly=False)
    def inapp_auth(self, code=None, corp_id=None, mobile=None, **_kwargs):
        """The in-app page posts the JSAPI code here; the answer tells it where to go."""
        try:
            if not admit_signin_attempt():
                raise DingTalkLoginError("too_many")
            company = request.env["res.company"]._dingtalk_company_for_corp(corp_id)
            if not company:
                raise DingTalkLoginError("corp")
            if not code:
                raise DingTalkLoginError("denied")
            userid = self._resolve(company._dingtalk_userid_from_app_code, code)
            target = sign_in(company, userid, DEFAULT_TARGET)
        except DingTalkLoginError as error:
            _logger.info(
                "DingTalk in-app sign-in refused (%s) from %s", error.code, request.httprequest.remote_addr
            )
            return request.make_json_response(
                {"error": error.code, "message": login_error_message(error.code)},
                status=429 if error.code == "too_many" else 403,
            )
        return request.make_json_response({"redirect": target})

    @staticmethod
    def _resolve(resolve, code):
        """The DingTalk userid behind ``code``, asked without ever waiting for the app's rate limiter."""
        if not isinstance(code, str) or not CODE_RE.fullmatch(code):
            raise DingTalkLoginError("failed")  # not a DingTalk code: DingTalk is not asked
        try:
            with dt_client.never_wait():
                userid = resolve(code)
        except (LimiterBusy, dt_errors.RateLimitError):
            _logger.warning("DingTalk sign-in refused: the app's DingTalk call quota is used up right now")
            raise DingTalkLoginError("too_many") from None
        except (dt_errors.DingTalkError, KeyError) as error:
            _logger.warning("DingTalk could not resolve a sign-in code: %s", error)
            raise DingTalkLoginError("failed") from None
        if not userid:
            raise DingTalkLoginError("corp")
        return userid


class DingTalkLoginPage(Home):
    @http.route()
    def web_login(self, redirect=None, **kw):
        response = super().web_login(redirect=redirect, **kw)
        if getattr(response, "qcontext", None) is not None:
            companies = request.env["res.company"]._dingtalk_configured_companies()
            target = _local_target(redirect) if redirect else ""
            response.qcontext["dingtalk_logins"] = [
                (company.name, "/dingtalk/login?" + urlencode({"company": company.id, "redirect": target}))
                for company in companies
            ]
            error = request.params.get("dingtalk_error")
            response.qcontext["dingtalk_error"] = login_error_message(error) if error else None
        return response
