import datetime
import logging

from odoo import api, fields, models
from odoo.exceptions import UserError

from ..dingtalk import errors as dt_errors

_logger = logging.getLogger(__name__)

MAX_USERIDS = 100  # asyncsend_v2 takes at most 100 userids per call


class ZiqiDingtalkMessage(models.Model):
    """A DingTalk work notification (工作通知) sent by Odoo: one record per asyncsend_v2 call."""

    _name = "ziqi.dingtalk.message"
    _description = "DingTalk Work Notification"
    _order = "id desc"
    _rec_name = "title"

    company_id = fields.Many2one("res.company", required=True, readonly=True, index=True)
    title = fields.Char(readonly=True)
    msg_type = fields.Char("Type", readonly=True)
    userids = fields.Text("DingTalk userids", readonly=True)
    recipient_count = fields.Integer(readonly=True)
    task_id = fields.Char("DingTalk Task Id", readonly=True, index=True)
    res_model = fields.Char("Related Model", readonly=True)
    res_id = fields.Integer("Related Record", readonly=True)
    state = fields.Selection(
        [("sent", "Sent"), ("checked", "Delivery Checked"), ("failed", "Failed")],
        default="sent",
        readonly=True,
    )
    error = fields.Text(readonly=True)
    read_count = fields.Integer(readonly=True)
    unread_count = fields.Integer(readonly=True)
    undelivered_count = fields.Integer(
        readonly=True, help="Invalid, forbidden or failed recipients reported by DingTalk."
    )
    checked_at = fields.Datetime(readonly=True)

    @api.model
    def _send(self, recipients, *, text=None, markdown=None, title=None, record=None, company=None):
        """Send a work notification to Odoo users or employees (resolved to their DingTalk userids), in
        calls of at most 100 people; returns the message records (one per call, with DingTalk's task id).
        Give ``text``, or ``markdown`` (with ``title``); ``record`` adds a link back to it."""
        company = company or self.env.company
        userids = self._userids_of(recipients, company)
        if not userids:
            raise UserError(
                self.env._("None of these people is bound to DingTalk in %(company)s.", company=company.name)
            )
        msg = self._message_body(text=text, markdown=markdown, title=title, record=record)
        client = company._dingtalk_client()
        messages = self.browse()
        for start in range(0, len(userids), MAX_USERIDS):
            chunk = userids[start : start + MAX_USERIDS]
            answer = client.send_work_notification(company.sudo().dingtalk_agent_id, msg, userid_list=chunk)
            messages |= self.sudo().create(
                {
                    "company_id": company.id,
                    "title": title or (text or "")[:60],
                    "msg_type": msg["msgtype"],
                    "userids": ",".join(chunk),
                    "recipient_count": len(chunk),
                    "task_id": str(answer.get("task_id")),
                    "res_model": record._name if record else False,
                    "res_id": record.id if record else False,
                }
            )
        return messages

    @api.model
    def _userids_of(self, recipients, company):
        employees = recipients if recipients._name == "hr.employee" else recipients.sudo().employee_ids
        employees = employees.sudo().filtered(lambda e: e.company_id == company and e.dingtalk_userid)
        return list(dict.fromkeys(employees.mapped("dingtalk_userid")))

    @api.model
    def _message_body(self, *, text=None, markdown=None, title=None, record=None):
        link = self._record_url(record) if record else None
        if link:
            return {
                "msgtype": "action_card",
                "action_card": {
                    "title": title or self.env._("Odoo"),
                    "markdown": markdown or text or "",
                    "single_title": self.env._("Open in Odoo"),
                    "single_url": link,
                },
            }
        if markdown:
            return {
                "msgtype": "markdown",
                "markdown": {"title": title or self.env._("Odoo"), "text": markdown},
            }
        return {"msgtype": "text", "text": {"content": text or ""}}

    @api.model
    def _record_url(self, record):
        base = record.get_base_url().rstrip("/")
        return f"{base}/odoo/{record._name}/{record.id}"

    def action_check_result(self):
        """Ask DingTalk how the notification was delivered (getsendresult; tasks of the last 24 h)."""
        for message in self:
            client = message.company_id._dingtalk_client()
            try:
                result = client.get_send_result(
                    message.company_id.sudo().dingtalk_agent_id, int(message.task_id)
                )
            except dt_errors.DingTalkError as error:
                message.write({"state": "failed", "error": message.company_id._dingtalk_error_message(error)})
                continue
            undelivered = sum(
                len(result.get(key) or ())
                for key in ("invalid_user_id_list", "forbidden_user_id_list", "failed_user_id_list")
            )
            message.write(
                {
                    "state": "checked",
                    "read_count": len(result.get("read_user_id_list") or ()),
                    "unread_count": len(result.get("unread_user_id_list") or ()),
                    "undelivered_count": undelivered,
                    "checked_at": fields.Datetime.now(),
                    "error": False,
                }
            )
        return True

    @api.autovacuum
    def _gc_old_messages(self):
        self.search([("create_date", "<", fields.Datetime.now() - datetime.timedelta(days=90))]).unlink()
