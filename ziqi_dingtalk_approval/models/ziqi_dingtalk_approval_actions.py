import logging

from odoo import api, fields, models
from odoo.addons.ziqi_dingtalk.dingtalk import errors as dt_errors
from odoo.exceptions import AccessError, UserError

from .ziqi_dingtalk_approval import STATES

_logger = logging.getLogger(__name__)

# ziqi.dingtalk.approval, continued from ziqi_dingtalk_approval.py: what DingTalk's actions and results say
# in the document's chatter, revoking from Odoo, what admins do, the check of running approvals.


class ZiqiDingtalkApproval(models.Model):
    _inherit = "ziqi.dingtalk.approval"

    # --- the chatter ---

    def _post(self, body, userid=None):
        """A note on the document (never mailed: a purchase order's followers include the vendor), by
        the Odoo user of DingTalk's ``userid`` when there is one."""
        document = self._record()
        if not document:
            return
        author = self._person(userid)[1] if userid else self.env["res.partner"]
        document.sudo().message_post(body=body, subtype_xmlid="mail.mt_note", author_id=author.id or None)

    def _person(self, userid):
        """``(name, partner)`` of a DingTalk userid: the synced employee's name and user, or the userid."""
        employee = (
            self.env["hr.employee"]
            .sudo()
            .with_context(active_test=False)
            .search([("dingtalk_userid", "=", userid), ("company_id", "=", self.company_id.id)], limit=1)
        )
        return employee.name or userid, employee.user_id.partner_id

    def _post_records(self, instance):
        """Post each action of DingTalk's record not posted yet (approvals, refusals, comments, ...)."""
        posted = set(self.posted_records or ())
        new = [record for record in instance.records if record.key not in posted]
        for record in new:
            text = self._record_text(record)
            if text:
                self._post(text, record.userid)
        if new:
            self.posted_records = [*posted, *(record.key for record in new)]

    def _record_text(self, record):
        """What an operation record says in the chatter, or None for those Odoo says itself (start,
        end). Types and results as in GetProcessInstance [KB:API/0498]; unknown types are shown by name."""
        name = self._person(record.userid)[0] if record.userid else self.env._("DingTalk")
        remark = f": {record.remark}" if record.remark else ""
        if record.type in ("START_PROCESS_INSTANCE", "FINISH_PROCESS_INSTANCE", "PROCESS_CC"):
            return None
        if record.type.startswith("EXECUTE_TASK"):
            if record.result == "AGREE":
                return self.env._("%(name)s approved in DingTalk%(remark)s", name=name, remark=remark)
            if record.result == "REFUSE":
                return self.env._("%(name)s refused in DingTalk%(remark)s", name=name, remark=remark)
        texts = {
            "ADD_REMARK": self.env._("%(name)s commented in DingTalk%(remark)s", name=name, remark=remark),
            "REDIRECT_TASK": self.env._(
                "%(name)s passed the approval on to someone else%(remark)s", name=name, remark=remark
            ),
            "TERMINATE_PROCESS_INSTANCE": self.env._(
                "%(name)s revoked the approval%(remark)s", name=name, remark=remark
            ),
            "REDIRECT_PROCESS": self.env._(
                "%(name)s sent the approval back%(remark)s", name=name, remark=remark
            ),
        }
        return texts.get(record.type) or self.env._(
            "%(name)s in DingTalk: %(action)s%(remark)s", name=name, action=record.type, remark=remark
        )

    def _flag(self, reason):
        self.write({"flagged": True, "flag_reason": reason})
        result = dict(STATES)[self.state]
        self._post(
            self.env._(
                "DingTalk approval result: %(result)s, not applied. %(reason)s", result=result, reason=reason
            )
        )
        self.company_id._dingtalk_alert(
            self.env._(
                "[Odoo] DingTalk approval %(number)s: %(result)s, not applied. %(reason)s",
                number=self.business_id or self.instance_id,
                result=result,
                reason=reason,
            ),
            key=f"approval-{self.id}",
            record=self,
        )

    def _result_message(self):
        return {
            "approved": self.env._("Approved in DingTalk."),
            "refused": self.env._("Refused in DingTalk."),
            "terminated": self.env._("The DingTalk approval was revoked."),
        }[self.state]

    # --- revoking from Odoo ---

    def _terminate(self, reason):
        """Revoke the running instance in DingTalk (撤销, as the system: DingTalk lets only the originator
        revoke in their own name [KB:API/0499]); a UserError when DingTalk refuses."""
        for approval in self.filtered(lambda a: a.state == "running"):
            approval._lock()
            try:
                approval._workflow().terminate(approval.instance_id, remark=reason)
            except dt_errors.DingTalkError as error:
                raise UserError(
                    self.env._(
                        "DingTalk did not revoke the approval %(number)s, so the document was not "
                        "cancelled: %(error)s",
                        number=approval.business_id or approval.instance_id,
                        error=approval.company_id._dingtalk_error_message(error),
                    )
                ) from error
            # revoked from Odoo: the document is being cancelled, nothing else to apply
            approval.write({"state": "terminated", "finished_at": fields.Datetime.now(), "applied": True})
            approval._post(self.env._("The DingTalk approval was revoked: %(reason)s", reason=reason))

    # --- actions and cron ---

    def _check_admin(self):
        if not (self.env.su or self.env.user.has_group("base.group_system")):
            raise AccessError(self.env._("Only Settings administrators can do this with DingTalk approvals."))

    def action_refresh(self):
        self._check_admin()
        for approval in self.sudo():
            try:
                approval._refresh()
            except dt_errors.DingTalkError as error:
                raise UserError(approval.company_id._dingtalk_error_message(error)) from error
        return True

    def action_apply_result(self):
        """Apply a flagged result anyway (a person checked the document)."""
        self._check_admin()
        for approval in self.sudo().filtered(lambda a: a.flagged and a.state != "running" and not a.applied):
            instance = approval._workflow().get(approval.instance_id)
            approval._apply_result(instance, force=True)
            if approval.flagged:
                raise UserError(approval.flag_reason)
        return True

    def action_open_document(self):
        self.ensure_one()
        return {
            "type": "ir.actions.act_window",
            "res_model": self.res_model,
            "res_id": self.res_id,
            "view_mode": "form",
        }

    @api.model
    def _cron_reconcile(self, limit=50):
        """A missed event must not leave an approval running for ever: the running approvals read
        least recently are read again (a few a day: each read counts against DingTalk's monthly quota)."""
        stale = fields.Datetime.subtract(fields.Datetime.now(), hours=6)
        approvals = self.search(
            [("state", "=", "running"), "|", ("refreshed_at", "=", False), ("refreshed_at", "<", stale)],
            order="refreshed_at asc nulls first, id",
            limit=limit,
        )
        for approval in approvals:
            # counted as read even when it fails: a failing approval never takes every slot for ever
            approval.refreshed_at = fields.Datetime.now()
            try:
                with self.env.cr.savepoint():
                    approval._refresh()
            except Exception:  # one approval's failure never stops the others
                _logger.warning("DingTalk approval %s could not be read", approval.instance_id, exc_info=True)
