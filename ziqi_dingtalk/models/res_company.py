import hashlib
import logging
import re

from odoo import api, fields, models
from odoo.addons.base.models.res_partner import _tz_get
from odoo.exceptions import UserError, ValidationError

from ..dingtalk import client as dt_client
from ..dingtalk import crypto as dt_crypto
from ..dingtalk import errors as dt_errors
from ..dingtalk.attendance import DEFAULT_TIMEZONE, AttendanceClient
from .res_users import DingTalkLoginError

_logger = logging.getLogger(__name__)

AES_KEY_RE = re.compile(r"^[A-Za-z0-9]{43}$")
DEFAULT_OAPI_URL = "https://oapi.dingtalk.com"
DEFAULT_API_URL = "https://api.dingtalk.com"
DEFAULT_LOGIN_URL = "https://login.dingtalk.com"
URL_RE = re.compile(r"^https?://[^\s/]+(/\S*)?$")

# Codes DingTalk uses for credentials it does not accept (gettoken, v1.0 accessToken).
BAD_CREDENTIALS = {"40096", "40089", "40001", "40013", "invalidClientIdOrSecret", "invalid.client"}
NO_PERMISSION = {"60011", "Forbidden.AccessDenied.AccessTokenPermissionDenied"}


def _alert_cause(run):
    """The throttle key of a run's alert: its end state and the cause (the first error, numbers and
    request ids left out), so that one failure never holds back the alert of another."""
    first = run.log_ids[:1]
    cause = re.sub(r"[0-9a-z]{10,}|\d+", "#", f"{first.kind}:{first.message}" if first else "-")
    return f"sync:{run.state}:{hashlib.sha1(cause.encode()).hexdigest()[:12]}"


class ResCompany(models.Model):
    _inherit = "res.company"

    dingtalk_agent_id = fields.Char("DingTalk AgentId", copy=False)
    dingtalk_app_key = fields.Char("DingTalk AppKey", copy=False, help="Client ID of the internal app.")
    dingtalk_app_secret = fields.Char(
        "DingTalk AppSecret",
        copy=False,
        groups="base.group_system",
        help="Client Secret of the internal app.",
    )
    dingtalk_corp_id = fields.Char("DingTalk CorpId", copy=False)
    dingtalk_callback_token = fields.Char("Callback Token", copy=False, groups="base.group_system")
    dingtalk_aes_key = fields.Char("Callback aes_key", copy=False, groups="base.group_system")
    dingtalk_event_delivery = fields.Selection(
        [("http", "HTTP push"), ("stream", "Stream")],
        string="Event Delivery",
        default="http",
        required=True,
        help="How DingTalk delivers its events (开发配置 → 事件订阅): HTTP push to /dingtalk/callback "
        "(needs a "
        "public HTTPS URL), or Stream mode, an outbound connection kept by the dingtalk_stream service (no "
        "public URL; DingTalk recommends it).",
    )
    dingtalk_callback_receiver = fields.Selection(
        [
            ("app_key", "AppKey (events configured in the developer console)"),
            ("corp_id", "CorpId (callback registered through the API)"),
        ],
        string="Callback Receiver Id",
        default="app_key",
        required=True,
        help="Which id DingTalk puts in encrypted callbacks: the AppKey for apps whose events are "
        "configured in the developer console, the CorpId for callbacks registered with register_call_back.",
    )
    dingtalk_callback_max_age = fields.Integer(
        "Callback Replay Window (s)",
        default=600,
        help="A callback whose timestamp is further than this from now is refused as a replay (0: no check).",
    )
    dingtalk_alert_userid = fields.Char(
        "Alert Recipient (DingTalk userid)", help="The DingTalk user who receives error alerts."
    )
    dingtalk_login_field = fields.Selection(
        [("userid", "DingTalk userid"), ("mobile", "Mobile"), ("email", "Email")],
        string="Login of Synced Users",
        default="userid",
        required=True,
        help="What becomes the login of a user created by the sync. "
        "An existing user's login is never changed.",
    )
    dingtalk_match_existing = fields.Boolean(
        "Match Existing People",
        default=True,
        help="On the first sync, bind DingTalk people to existing employees and users with the same email "
        "or mobile instead of creating new ones.",
    )
    # when the failed pushes were last pulled, and until when they are pulled each minute (callback.py)
    dingtalk_failed_pulled_at = fields.Datetime(
        "Failed Pushes Pulled At", readonly=True, groups="base.group_system"
    )
    dingtalk_failed_fast_until = fields.Datetime(
        "Failed Pushes Pulled Each Minute Until", readonly=True, groups="base.group_system"
    )
    dingtalk_sync_avatars = fields.Boolean(
        "Sync Profile Pictures",
        default=True,
        help="The photo a person set in DingTalk becomes the picture of their employee (and of the user the "
        "sync created for them), downloaded again only when they change it.",
    )
    dingtalk_archive_threshold = fields.Float(
        "Archive Safety Threshold (%)",
        default=10.0,
        help="A sync that would archive more than this share of the synced people stops before archiving "
        "anyone and alerts the admin.",
    )
    dingtalk_login_create = fields.Boolean(
        "Create Accounts on First Sign-in",
        help="A DingTalk person of the organisation with no Odoo account gets one, exactly as the sync would "
        "create it, the first time they sign in with DingTalk. Off: only synced people may sign in.",
    )
    dingtalk_alert_period = fields.Integer(
        "Alert Period (min)",
        default=60,
        help="The same kind of failure is alerted at most once in this many minutes (0: every time).",
    )
    dingtalk_timezone = fields.Selection(
        _tz_get,
        "DingTalk time zone",
        default=DEFAULT_TIMEZONE,
        required=True,
        help="The DingTalk organisation's time zone: hire dates, work days (from its midnight) and leave "
        "dates are counted in it.",
    )
    dingtalk_oapi_url = fields.Char("DingTalk oapi URL", default=DEFAULT_OAPI_URL, required=True)
    dingtalk_api_url = fields.Char("DingTalk API URL", default=DEFAULT_API_URL, required=True)
    dingtalk_login_url = fields.Char("DingTalk Login URL", default=DEFAULT_LOGIN_URL, required=True)

    @api.constrains("dingtalk_aes_key")
    def _check_dingtalk_aes_key(self):
        for company in self.sudo():
            key = company.dingtalk_aes_key
            if key and not AES_KEY_RE.match(key):
                raise ValidationError(
                    self.env._(
                        "The callback aes_key must be exactly 43 letters or digits (it has %(count)s "
                        "characters). Use the Generate button or copy it again from the DingTalk console.",
                        count=len(key),
                    )
                )

    @api.constrains("dingtalk_archive_threshold")
    def _check_dingtalk_archive_threshold(self):
        if any(not 0 <= company.dingtalk_archive_threshold <= 100 for company in self):
            raise ValidationError(self.env._("The archive safety threshold is a percentage from 0 to 100."))

    @api.constrains("dingtalk_oapi_url", "dingtalk_api_url", "dingtalk_login_url")
    def _check_dingtalk_urls(self):
        fnames = ("dingtalk_oapi_url", "dingtalk_api_url", "dingtalk_login_url")
        for fname, url in ((fname, company[fname]) for company in self for fname in fnames):
            if url and not URL_RE.match(url):
                raise ValidationError(
                    self.env._(
                        "%(field)s must be an http(s) URL such as https://oapi.dingtalk.com, not %(url)r.",
                        field=self._fields[fname].get_description(self.env)["string"],
                        url=url,
                    )
                )

    def _dingtalk_is_configured(self):
        self.ensure_one()
        company = self.sudo()
        return bool(company.dingtalk_app_key and company.dingtalk_app_secret)

    def _dingtalk_client(self):
        """The one seam between Odoo and DingTalk: a protocol client for this company.

        Built anew from the current settings on every call, so a settings change applies at
        once; the access token is shared by all workers through ``ziqi.dingtalk.token``.
        """
        self.ensure_one()
        if not self._dingtalk_is_configured():
            raise UserError(
                self.env._(
                    "DingTalk is not configured for %(company)s: set the AppKey and AppSecret in Settings.",
                    company=self.name,
                )
            )
        company = self.sudo()
        return dt_client.DingTalkClient(
            company.dingtalk_app_key.strip(),
            company.dingtalk_app_secret.strip(),
            oapi_url=company.dingtalk_oapi_url,
            api_url=company.dingtalk_api_url,
            # pool threads (a directory walk, an event batch's reads) never reach the database store
            token_store=dt_client.OwnerThreadStore(
                self.env["ziqi.dingtalk.token"]._store(company.dingtalk_app_key.strip())
            ),
            limiter=dt_client.shared_limiter(company.dingtalk_app_key.strip()),
        )

    def _dingtalk_attendance_client(self):
        """The attendance and leave reads of this company's client, in its DingTalk time zone."""
        self.ensure_one()
        return AttendanceClient(self._dingtalk_client(), timezone=self.sudo().dingtalk_timezone)

    def _dingtalk_crypto(self):
        """The callback crypto of this company, or None while its token or aes_key is missing."""
        self.ensure_one()
        company = self.sudo()
        receiver = (
            company.dingtalk_app_key
            if company.dingtalk_callback_receiver == "app_key"
            else (company.dingtalk_corp_id)
        )
        if not (company.dingtalk_callback_token and company.dingtalk_aes_key and receiver):
            return None
        return dt_crypto.DingTalkCrypto(
            company.dingtalk_callback_token, company.dingtalk_aes_key, receiver.strip()
        )

    @api.model
    def _dingtalk_configured_companies(self):
        """Companies whose DingTalk app is configured (AppKey and AppSecret): synced, signed in."""
        companies = self.sudo().search([("dingtalk_app_key", "!=", False)])
        return companies.filtered(lambda company: company._dingtalk_is_configured())

    @api.model
    def _dingtalk_company_for_corp(self, corp_id):
        """The company connected to this DingTalk organisation (the only one when corp_id is not given)."""
        companies = self._dingtalk_configured_companies()
        if corp_id:
            return companies.filtered(lambda company: company.dingtalk_corp_id == corp_id)[:1]
        return companies if len(companies) == 1 else self.browse()

    def _dingtalk_userid_from_oauth(self, code):
        """Browser login (protocol §5.1): authorization code → user token → unionId → userid of this org."""
        client = self._dingtalk_client()
        token = client.user_access_token(code)
        corp_id = self.sudo().dingtalk_corp_id
        if token.get("corpId") and corp_id and token["corpId"] != corp_id:
            return None
        profile = client.contact_users_me(token["accessToken"])
        try:
            member = client.user_getbyunionid(profile["unionId"])
        except dt_errors.NotFound:  # 60121: a DingTalk account, not one of this organisation's people
            raise DingTalkLoginError("not_member") from None
        if str(member.get("contact_type", 0)) != "0":  # 1: an external contact (外部联系人), not staff
            raise DingTalkLoginError("not_member")
        return member.get("userid")

    def _dingtalk_userid_from_app_code(self, code):
        """In-app (免登) login (protocol §5.3): the JSAPI auth code → userid."""
        return self._dingtalk_client().user_getuserinfo(code).get("userid")

    def _dingtalk_error_message(self, error):
        """Plain, translated words for a DingTalk error (a protocol-layer exception, or a directory walk's
        FetchError), naming the usual fix. What each code means is known by dingtalk/errors.py."""
        if isinstance(error, dt_errors.TransportError):
            return self.env._("Odoo could not reach DingTalk: %(error)s", error=str(error))
        if not isinstance(error, dt_errors.DingTalkError) and getattr(error, "errcode", None) is not None:
            error = dt_errors.make_api_error(
                error.errcode, error.errmsg, request_id=error.request_id, api=error.api
            )
        code = str(getattr(error, "errcode", "") or "")
        sub_code = str(getattr(error, "sub_code", "") or "")
        if code in BAD_CREDENTIALS or sub_code in BAD_CREDENTIALS:
            return self.env._(
                "DingTalk does not accept this AppKey and AppSecret. Copy both again from the app's "
                "Credentials page (凭证与基础信息) in the DingTalk developer console."
            )
        words = self._dingtalk_error_words(error)
        if words:
            return self.env._(
                "%(words)s (DingTalk error %(code)s)",
                words=words,
                code="/".join(filter(None, (code, sub_code))),
            )
        if code in NO_PERMISSION or sub_code in NO_PERMISSION:
            return self.env._(
                "The app lacks a permission (60011). Grant the contacts read permissions in the developer "
                "console under 权限管理 and publish the app. DingTalk said: %(message)s",
                message=error.errmsg or "",
            )
        return self.env._(
            "DingTalk error %(code)s: %(message)s (request id %(request_id)s)",
            code=code or sub_code,
            message=getattr(error, "errmsg", "") or str(error),
            request_id=getattr(error, "request_id", "") or "-",
        )

    def _dingtalk_error_words(self, error):
        """The plain sentence for the failures of a working setup (IP whitelist, monthly quota, throttling,
        paging), or None. Console paths: KB:DEV/0024-optional-develop-a-small-program-server (开发配置 →
        安全设置 → 服务器出口IP); quota: KB:API/1433-how-to-process-api-throttling-on-the-dingtalk-server."""
        if isinstance(error, dt_errors.IPNotAllowed):
            return self.env._(
                "DingTalk refuses calls from this server's IP address: add %(ip)s to the app's IP whitelist "
                "(开发配置 → 安全设置 → 服务器出口IP) in the DingTalk developer console.",
                ip=error.ip or self.env._("this server's public (egress) IP address"),
            )
        if isinstance(error, dt_errors.QuotaExceeded):
            return self.env._(
                "Your DingTalk organisation has used all of this month's API calls: the free standard "
                "edition allows 5,000 a month (sign-in, the access token and reading the contacts are not "
                "counted). Calls work again next month; for more, upgrade the organisation to DingTalk "
                "Professional (专业版)."
            )
        if isinstance(error, dt_errors.RateLimitError) and error.is_rate_limit:
            return self.env._(
                "DingTalk is throttling this app's calls (too many per second or per minute), and still was "
                "after Odoo slowed down and retried. Wait a minute and try again."
            )
        if isinstance(error, dt_errors.PagingError):
            if error.is_offset:
                return self.env._(
                    "DingTalk refused the offset Odoo used to page through %(api)s. Run the sync again; if "
                    "it happens again, report it to the maintainers of the DingTalk module.",
                    api=error.api or "-",
                )
            return self.env._(
                "DingTalk refused the page size Odoo used to read %(api)s: DingTalk may have lowered its "
                "limit. Report it to the maintainers of the DingTalk module.",
                api=error.api or "-",
            )
        return None

    def _dingtalk_alert_sync(self, run):
        """Tell the alert recipient over DingTalk that a sync run failed or stopped; never raises."""
        self.ensure_one()
        text = self.env._(
            "[Odoo] DingTalk sync #%(id)s of %(company)s ended %(state)s: %(summary)s. "
            "Errors: %(errors)s. %(first)s",
            id=run.id,
            company=self.name,
            state=dict(run._fields["state"]._description_selection(self.env))[run.state],
            summary=run.summary or "-",
            errors=run.error_count,
            first=run.log_ids[:1].message or "",
        )
        # a stopped run stopped before archiving people: that alert is never held back
        self._dingtalk_alert(text, key=_alert_cause(run), record=run, throttle=run.state != "stopped")

    def _dingtalk_alert(self, text, key=None, record=None, throttle=True):
        """Send ``text`` as a work notification to the alert recipient, with a link to ``record``; the same
        ``key`` alerts once per alert period unless ``throttle`` is off (a stop that protects the company's
        people is never held back). Logs, never raises: an alert must not break the failing job."""
        company = self.sudo()
        if not (
            company.dingtalk_alert_userid and company.dingtalk_agent_id and company._dingtalk_is_configured()
        ):
            _logger.warning("DingTalk alert not sent (no alert recipient or AgentId configured): %s", text)
            return False
        send, held_back = (
            self.env["ziqi.dingtalk.alert"]._should_send(company, key or text[:200])
            if throttle
            else (True, 0)
        )
        if not send:
            _logger.info(
                "DingTalk alert held back (sent less than %s min ago): %s",
                company.dingtalk_alert_period,
                text,
            )
            return False
        if held_back:
            text += "\n" + self.env._("(%(count)s more like this since the last alert)", count=held_back)
        msg = self.env["ziqi.dingtalk.message"]._message_body(
            markdown=text, title=self.env._("Odoo: DingTalk integration"), record=record
        )
        try:
            company._dingtalk_client().send_work_notification(
                company.dingtalk_agent_id, msg, userid_list=[company.dingtalk_alert_userid]
            )
        except (dt_errors.DingTalkError, ValueError) as error:
            _logger.warning(
                "DingTalk alert could not be sent to %s: %s", company.dingtalk_alert_userid, error
            )
            return False
        return True
