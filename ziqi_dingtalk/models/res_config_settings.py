import datetime

from odoo import api, fields, models

from ..dingtalk import crypto as dt_crypto
from ..dingtalk import errors as dt_errors


class ResConfigSettings(models.TransientModel):
    _inherit = "res.config.settings"

    dingtalk_agent_id = fields.Char(related="company_id.dingtalk_agent_id", readonly=False)
    dingtalk_app_key = fields.Char(related="company_id.dingtalk_app_key", readonly=False)
    dingtalk_app_secret = fields.Char(related="company_id.dingtalk_app_secret", readonly=False)
    dingtalk_corp_id = fields.Char(related="company_id.dingtalk_corp_id", readonly=False)
    dingtalk_callback_token = fields.Char(related="company_id.dingtalk_callback_token", readonly=False)
    dingtalk_aes_key = fields.Char(related="company_id.dingtalk_aes_key", readonly=False)
    dingtalk_callback_receiver = fields.Selection(
        related="company_id.dingtalk_callback_receiver", readonly=False
    )
    dingtalk_callback_max_age = fields.Integer(related="company_id.dingtalk_callback_max_age", readonly=False)
    dingtalk_alert_userid = fields.Char(related="company_id.dingtalk_alert_userid", readonly=False)
    dingtalk_login_field = fields.Selection(related="company_id.dingtalk_login_field", readonly=False)
    dingtalk_match_existing = fields.Boolean(related="company_id.dingtalk_match_existing", readonly=False)
    dingtalk_sync_avatars = fields.Boolean(related="company_id.dingtalk_sync_avatars", readonly=False)
    dingtalk_archive_threshold = fields.Float(related="company_id.dingtalk_archive_threshold", readonly=False)
    dingtalk_login_create = fields.Boolean(related="company_id.dingtalk_login_create", readonly=False)
    dingtalk_callback_url = fields.Char("Callback URL", compute="_compute_dingtalk_urls")
    dingtalk_redirect_url = fields.Char("Sign-in Redirect URL", compute="_compute_dingtalk_urls")
    dingtalk_home_url = fields.Char("Workbench Home Page URL", compute="_compute_dingtalk_urls")
    dingtalk_alert_period = fields.Integer(related="company_id.dingtalk_alert_period", readonly=False)
    dingtalk_timezone = fields.Selection(related="company_id.dingtalk_timezone", readonly=False)
    dingtalk_last_sync = fields.Datetime("Last Successful Sync", compute="_compute_dingtalk_status")
    dingtalk_events_24h = fields.Integer("Events in the Last 24 h", compute="_compute_dingtalk_status")
    dingtalk_failures = fields.Integer("Failures Waiting", compute="_compute_dingtalk_status")
    dingtalk_default_admin_password = fields.Boolean(compute="_compute_dingtalk_status")
    dingtalk_event_delivery = fields.Selection(related="company_id.dingtalk_event_delivery", readonly=False)
    dingtalk_stream_connections = fields.Integer("Stream Connections", compute="_compute_dingtalk_stream")
    dingtalk_stream_since = fields.Datetime("Connected Since", compute="_compute_dingtalk_stream")
    dingtalk_stream_heartbeat = fields.Datetime("Last Heartbeat", compute="_compute_dingtalk_stream")
    dingtalk_stream_event = fields.Datetime("Last Stream Event", compute="_compute_dingtalk_stream")
    dingtalk_stream_warning = fields.Char(compute="_compute_dingtalk_stream")
    dingtalk_oapi_url = fields.Char(related="company_id.dingtalk_oapi_url", readonly=False)
    dingtalk_api_url = fields.Char(related="company_id.dingtalk_api_url", readonly=False)
    dingtalk_login_url = fields.Char(related="company_id.dingtalk_login_url", readonly=False)

    @api.depends("company_id")
    def _compute_dingtalk_urls(self):
        base = self.env["ir.config_parameter"].sudo().get_param("web.base.url", "").rstrip("/")
        for settings in self:
            settings.dingtalk_callback_url = f"{base}/dingtalk/callback"
            settings.dingtalk_redirect_url = f"{base}/dingtalk/loginweb"
            settings.dingtalk_home_url = f"{base}/dingtalk/index.html"

    @api.depends("company_id")
    def _compute_dingtalk_status(self):
        Run = self.env["ziqi.dingtalk.sync.run"].sudo()
        Event = self.env["ziqi.dingtalk.event"].sudo()
        since = fields.Datetime.now() - datetime.timedelta(hours=24)
        default_password = self._dingtalk_admin_has_default_password()
        for settings in self:
            company = [("company_id", "=", settings.company_id.id)]
            last = Run.search([*company, ("state", "=", "done")], order="id desc", limit=1)
            failed_runs = Run.search_count(
                [*company, ("state", "in", ("failed", "stopped")), ("id", ">", last.id or 0)]
            )
            settings.dingtalk_last_sync = last.ended_at
            settings.dingtalk_events_24h = Event.search_count([*company, ("received_at", ">=", since)])
            settings.dingtalk_failures = failed_runs + Event.search_count(
                [*company, ("state", "=", "failed")]
            )
            settings.dingtalk_default_admin_password = default_password

    @api.depends("company_id", "dingtalk_event_delivery")
    def _compute_dingtalk_stream(self):
        Stream = self.env["ziqi.dingtalk.stream"].sudo()
        for settings in self:
            status = Stream._status(settings.company_id)
            settings.dingtalk_stream_connections = status["connections"]
            settings.dingtalk_stream_since = status["since"]
            settings.dingtalk_stream_heartbeat = status["heartbeat"]
            settings.dingtalk_stream_event = status["event"]
            settings.dingtalk_stream_warning = (
                settings._dingtalk_stream_warning(status)
                if settings.dingtalk_event_delivery == "stream"
                else ""
            )

    def _dingtalk_stream_warning(self, status):
        """Why no event can arrive over Stream now, or "" while a connection is up."""
        if status["connections"]:
            return ""
        if status["heartbeat"]:
            return self.env._(
                "No Stream connection has been up lately (last heartbeat %(when)s UTC%(error)s). Check that "
                "the dingtalk_stream service runs and can reach DingTalk.",
                when=fields.Datetime.to_string(status["heartbeat"]),
                error="; " + status["error"] if status["error"] else "",
            )
        return self.env._(
            "No Stream connection yet: start the dingtalk_stream service (odoo-bin dingtalk_stream -d DB) "
            "and choose Stream mode in the DingTalk console (事件订阅 → Stream 模式推送)."
        )

    def _dingtalk_admin_has_default_password(self):
        """True while the admin account still accepts the well-known password "admin"."""
        admin = self.env.ref("base.user_admin", raise_if_not_found=False)
        if not admin or not admin.active:
            return False
        self.env["res.users"].flush_model(["password"])
        self.env.cr.execute("SELECT password FROM res_users WHERE id = %s", [admin.id])
        hashed = (self.env.cr.fetchone() or [None])[0]
        return bool(hashed) and self.env["res.users"]._crypt_context().verify("admin", hashed)

    def action_dingtalk_generate_aes_key(self):
        """Give the company a fresh callback aes_key (to paste into the DingTalk console)."""
        self.ensure_one()
        self.company_id.sudo().dingtalk_aes_key = dt_crypto.generate_aes_key()
        return self._dingtalk_notification(
            self.env._(
                "A new aes_key was generated. Paste it into the DingTalk console (事件与回调) and save."
            ),
            "info",
            reload=True,
        )

    def action_dingtalk_test_connection(self):
        """Fetch an access token and read the root department: proves key, secret, IP and permission."""
        self.ensure_one()
        company = self.company_id
        if not company._dingtalk_is_configured():
            return self._dingtalk_notification(
                self.env._("Set the AppKey and AppSecret in Settings first, then test the connection."),
                "warning",
            )
        try:
            client = company._dingtalk_client()
            client.access_token(force=True)
            client.department_get(1)
        except dt_errors.DingTalkError as error:
            return self._dingtalk_notification(company._dingtalk_error_message(error), "danger", sticky=True)
        return self._dingtalk_notification(
            self.env._("Connected to DingTalk: the app's credentials work and the directory can be read."),
            "success",
        )

    def _dingtalk_notification(self, message, kind, sticky=False, reload=False):
        params = {"title": self.env._("DingTalk"), "message": message, "type": kind, "sticky": sticky}
        if reload:
            params["next"] = {"type": "ir.actions.client", "tag": "soft_reload"}
        return {"type": "ir.actions.client", "tag": "display_notification", "params": params}

    def _dingtalk_queue_sync(self, kind):
        self.ensure_one()
        run = self.env["ziqi.dingtalk.sync.run"]._queue(self.company_id, kind, "manual")
        return run.get_formview_action()

    def action_dingtalk_sync_all(self):
        return self._dingtalk_queue_sync("all")

    def action_dingtalk_sync_departments(self):
        return self._dingtalk_queue_sync("departments")

    def action_dingtalk_sync_users(self):
        return self._dingtalk_queue_sync("users")

    def action_dingtalk_sync_roles(self):
        return self._dingtalk_queue_sync("roles")

    def action_dingtalk_open_schedule(self):
        return self.env.ref("ziqi_dingtalk.ir_cron_dingtalk_sync_schedule").get_formview_action()
