"""DingTalk Stream mode (protocol §7) on the Odoo side: what the ``dingtalk_stream`` service reads (the
companies set to Stream), how it stores the events it receives (the same inbox as HTTP pushes), and the
status each of its connections reports for the Settings panel."""

import datetime
import logging
import os
import socket

from odoo import api, fields, models

from ..compat import constraint
from ..dingtalk.stream import SUCCESS
from .ziqi_dingtalk_event import VERIFICATION_EVENTS

_logger = logging.getLogger(__name__)

# a connection whose service has not reported for this long is shown as down (it reports every few seconds)
STALE_AFTER = datetime.timedelta(minutes=2)
# the row of a process that has not reported for this long (killed, its host gone) is deleted
FORGET_AFTER = datetime.timedelta(days=1)


class ZiqiDingtalkStream(models.Model):
    """One row per Stream connection a ``dingtalk_stream`` process keeps (company, process): written by
    that process only, read by the Settings status panel."""

    _name = "ziqi.dingtalk.stream"
    _description = "DingTalk Stream Connection"
    _order = "company_id, process"
    _rec_name = "process"

    company_id = fields.Many2one("res.company", required=True, readonly=True, index=True, ondelete="cascade")
    process = fields.Char(required=True, readonly=True, help="Host and process id of the service.")
    state = fields.Selection(
        [("connecting", "Connecting"), ("connected", "Connected"), ("stopped", "Stopped")],
        required=True,
        default="connecting",
        readonly=True,
    )
    connected_since = fields.Datetime(readonly=True)
    last_heartbeat_at = fields.Datetime("Last Heartbeat", readonly=True, help="Last frame or pong received.")
    last_event_at = fields.Datetime("Last Event", readonly=True)
    events = fields.Integer("Events Received", readonly=True)
    reconnects = fields.Integer(readonly=True)
    last_error = fields.Char(readonly=True)
    reported_at = fields.Datetime(readonly=True)

    _process_uniq = constraint("unique(company_id, process)", "One row per company and process.")

    # --- the service's settings ---

    @api.model
    def _stream_settings(self):
        """{company id: settings tuple} of the companies whose events come over Stream; a change of the tuple
        makes the service reconnect with the new settings."""
        companies = self.env["res.company"]._dingtalk_configured_companies()
        return {
            company.id: (
                company.dingtalk_app_key.strip(),
                company.dingtalk_app_secret.strip(),
                company.dingtalk_api_url,
            )
            for company in companies.sudo()
            if company.dingtalk_event_delivery == "stream"
        }

    # --- storing ---

    @api.model
    def _store_messages(self, company, messages):
        """Store these StreamMessages of ``company`` in the event inbox; returns ``[(status, note)]`` in
        their order: SUCCESS for a stored, duplicate or unreadable one (DingTalk would redeliver an
        unreadable frame for ever; it is logged), LATER for one that cannot be stored now. The caller
        acknowledges them only after this transaction is committed."""
        Inbox = self.env["ziqi.dingtalk.event"]
        corp_id = company.sudo().dingtalk_corp_id
        answers = []
        for message in messages:
            event = message.event
            if event is None:
                _logger.warning("DingTalk Stream event of %s unreadable: %s", company.name, message.problem)
                answers.append((SUCCESS, "unreadable"))
            elif event.corp_id and corp_id and event.corp_id != corp_id:
                _logger.warning("DingTalk Stream event of another organisation %s ignored", event.corp_id)
                answers.append((SUCCESS, "another organisation"))
            elif event.type in VERIFICATION_EVENTS:
                answers.append((SUCCESS, "verification"))
            else:
                new = Inbox._store(company, event)
                answers.append((SUCCESS, "stored" if new else "duplicate"))
        return answers

    # --- status ---

    @api.model
    def _report(self, company_id, process, status):
        """Upsert the status row of (company, process): ``status`` holds the field values."""
        values = dict(status, reported_at=fields.Datetime.now())
        row = self.search([("company_id", "=", company_id), ("process", "=", process)], limit=1)
        if row:
            row.write(values)
        else:
            self.create(dict(values, company_id=company_id, process=process))

    @api.model
    def _forget_stopped(self, process, company_ids):
        """The rows of this process for companies it no longer serves: stopped; the rows of any process
        that has not reported for FORGET_AFTER: deleted."""
        rows = self.search([("process", "=", process), ("company_id", "not in", list(company_ids))])
        rows.filtered(lambda row: row.state != "stopped").write(
            {"state": "stopped", "connected_since": False, "reported_at": fields.Datetime.now()}
        )
        self.search([("reported_at", "<", fields.Datetime.now() - FORGET_AFTER)]).unlink()

    @api.model
    def _status(self, company):
        """The Stream status of ``company`` for the Settings panel: the live rows (reported lately), the
        earliest connection, the latest heartbeat and event, and a warning when none is up."""
        rows = self.sudo().search([("company_id", "=", company.id)])
        fresh = rows.filtered(
            lambda row: row.reported_at and row.reported_at >= fields.Datetime.now() - STALE_AFTER
        )
        up = fresh.filtered(lambda row: row.state == "connected")
        heartbeats = [row.last_heartbeat_at for row in rows if row.last_heartbeat_at]
        events = [row.last_event_at for row in rows if row.last_event_at]
        return {
            "connections": len(up),
            "since": min(up.mapped("connected_since"), default=False) or False,
            "heartbeat": max(heartbeats, default=False),
            "event": max(events, default=False),
            "error": next(
                (row.last_error for row in rows.sorted("reported_at", reverse=True) if row.last_error), ""
            ),
        }

    @api.model
    def _host_process(self):
        return f"{socket.gethostname()}:{os.getpid()}"
