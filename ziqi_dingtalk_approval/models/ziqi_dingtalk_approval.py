import hashlib
import json
import logging

from odoo import api, fields, models
from odoo.addons.ziqi_dingtalk.compat import constraint
from odoo.addons.ziqi_dingtalk.dingtalk import errors as dt_errors
from odoo.addons.ziqi_dingtalk.dingtalk.workflow import (
    FormValueError,
    WorkflowClient,
    encode_form_values,
    instance_url,
)
from odoo.exceptions import UserError

_logger = logging.getLogger(__name__)

STATES = [
    ("running", "In Approval"),
    ("approved", "Approved"),
    ("refused", "Refused"),
    ("terminated", "Revoked"),
]
# The context key under which the approval itself changes a locked document (its result, a cancel). Its
# value is this module's own object: a JSON-RPC call can set any context key, but not to this object.
BYPASS = "dingtalk_approval_bypass"
_BYPASS_TOKEN = object()


def unlocked(records):
    """``records`` allowed to change while in approval, and to run their approve buttons: only for the
    approval's own code (the result, a cancel that revoked the approval)."""
    return records.with_context(**{BYPASS: _BYPASS_TOKEN})


def bypassing(records):
    return records.env.context.get(BYPASS) is _BYPASS_TOKEN


class ZiqiDingtalkApproval(models.Model):
    """One DingTalk approval instance (审批实例) started for an Odoo document.

    DingTalk's API is the only source of its state: an event only says "look again" (``_refresh``), so a
    forged, repeated or late event changes nothing that DingTalk does not confirm. A result is applied to
    the document once (``applied``); a result for a document that changed since it was submitted is
    recorded and flagged, not applied."""

    _name = "ziqi.dingtalk.approval"
    _description = "DingTalk Approval"
    _order = "id desc"
    _rec_name = "title"

    company_id = fields.Many2one("res.company", required=True, readonly=True, index=True)
    rule_id = fields.Many2one("ziqi.dingtalk.approval.rule", readonly=True, ondelete="set null")
    res_model = fields.Char("Document Model", required=True, readonly=True, index=True)
    res_id = fields.Many2oneReference("Document ID", model_field="res_model", readonly=True, index=True)
    document = fields.Char(compute="_compute_document")
    instance_id = fields.Char("DingTalk Instance", required=True, readonly=True)
    business_id = fields.Char("Approval Number", readonly=True, help="审批编号")
    title = fields.Char(readonly=True)
    url = fields.Char("Open in DingTalk", readonly=True)
    originator_userid = fields.Char("Originator (DingTalk)", readonly=True)
    state = fields.Selection(STATES, required=True, default="running", readonly=True, index=True)
    applied = fields.Boolean(readonly=True, help="The result has been applied to the document.")
    flagged = fields.Boolean(readonly=True, index=True, help="The result needs a person: see the reason.")
    flag_reason = fields.Text(readonly=True)
    fingerprint = fields.Char(readonly=True, help="A hash of the form DingTalk's approvers saw.")
    posted_records = fields.Json(readonly=True, help="The DingTalk actions already posted in the chatter.")
    submitted_at = fields.Datetime(readonly=True, default=fields.Datetime.now)
    finished_at = fields.Datetime(readonly=True)
    refreshed_at = fields.Datetime("Read from DingTalk", readonly=True)

    _instance_uniq = constraint(
        "unique(company_id, instance_id)", "Each DingTalk approval instance is recorded once."
    )

    @api.model_create_multi
    def create(self, vals_list):
        approvals = super().create(vals_list)
        approvals._invalidate_documents()
        return approvals

    def write(self, vals):
        result = super().write(vals)
        self._invalidate_documents()
        return result

    def _invalidate_documents(self):
        """The documents' DingTalk fields are computed from their approvals: read them anew."""
        for model in set(self.mapped("res_model")):
            if model in self.env:
                self.env[model].invalidate_model(
                    [f for f in self.env[model]._fields if f.startswith("dingtalk_approval_")]
                )

    @api.depends("res_model", "res_id")
    def _compute_document(self):
        for approval in self:
            record = approval._record()
            approval.document = record.display_name if record else False

    # --- submitting ---

    @api.model
    def _submit(self, document):
        """Start a DingTalk approval of ``document`` under its rule; returns the new approval."""
        document.ensure_one()
        rule = self.env["ziqi.dingtalk.approval.rule"]._for_document(document)
        if not rule:
            raise UserError(
                self.env._(
                    "No DingTalk approval rule applies to %(document)s.", document=document.display_name
                )
            )
        if document._dingtalk_running_approval():
            raise UserError(
                self.env._("%(document)s is already in approval.", document=document.display_name)
            )
        company = rule.company_id
        employee, userid, dept_id = rule._originator(document)
        values = rule._form_values(document)
        components = [
            field._as_component() for field in rule.template_id.field_ids.filtered(lambda f: not f.parent_id)
        ]
        try:
            form = encode_form_values(components, values)
        except FormValueError as error:
            raise UserError(rule._form_error_message(error, document, values)) from error
        workflow = WorkflowClient(company._dingtalk_client())
        agent_id = company.sudo().dingtalk_agent_id
        try:
            instance_id = workflow.start(
                rule.template_id.process_code,
                userid,
                dept_id,
                form,
                agent_id=int(agent_id) if agent_id else None,
            )
        except dt_errors.DingTalkError as error:
            raise UserError(company._dingtalk_error_message(error)) from error
        approval = self.sudo().create(
            {
                "company_id": company.id,
                "rule_id": rule.id,
                "res_model": document._name,
                "res_id": document.id,
                "instance_id": instance_id,
                "title": rule.template_id.name,
                "url": instance_url(company.sudo().dingtalk_corp_id or "", instance_id),
                "originator_userid": userid,
                "fingerprint": self._fingerprint(form),
                "posted_records": [],
                "refreshed_at": fields.Datetime.now(),  # just started: running, as DingTalk answered
            }
        )
        approval._post(
            self.env._(
                "Submitted to DingTalk for approval (%(template)s) by %(person)s.",
                template=rule.template_id.name,
                person=employee.name,
            ),
            userid,
        )
        return approval

    @api.model
    def _fingerprint(self, form):
        return hashlib.sha256(json.dumps(form, sort_keys=True, ensure_ascii=False).encode()).hexdigest()

    # --- following DingTalk ---

    def _refresh(self, workflow=None):
        """Read each approval's instance from DingTalk, post the actions not posted yet, and apply a
        final result once. Safe to call any number of times, in any order of events."""
        for approval in self:
            approval._lock()
            instance = (workflow or approval._workflow()).get(approval.instance_id)
            approval._post_records(instance)
            vals = {
                "refreshed_at": fields.Datetime.now(),
                "business_id": instance.business_id or approval.business_id,
            }
            state = approval._state_of(instance)
            if approval.state == "running" and state != "running":
                vals.update(state=state, finished_at=instance.finish_time or fields.Datetime.now())
            approval.write(vals)
            if approval.state != "running" and not approval.applied and not approval.flagged:
                approval._apply_result(instance)
        return True

    def _lock(self):
        """Refreshes of one approval run one after another (two events of it in parallel workers)."""
        self.env.cr.execute("SELECT id FROM ziqi_dingtalk_approval WHERE id = %s FOR UPDATE", [self.id])
        self.invalidate_recordset()

    def _workflow(self):
        return WorkflowClient(self.company_id._dingtalk_client())

    @staticmethod
    def _state_of(instance):
        if instance.terminated:
            return "terminated"
        if instance.approved:
            return "approved"
        if instance.refused:
            return "refused"
        return "running"

    def _apply_result(self, instance):
        """Run what the rule says for the result, unless the document is gone or changed since it was
        submitted: then the result is recorded and flagged for a person."""
        document = self._record()
        reason = None
        if not document:
            reason = self.env._("The document was deleted.")
        elif self.rule_id and self.fingerprint != self._current_fingerprint(document):
            reason = self.env._(
                "The document changed after it was submitted: the approvers saw other values. Check it, "
                "then apply the result by hand or submit it again."
            )
        if reason:
            self._flag(reason)
            return
        outcome = {"approved": "approve", "refused": "refuse", "terminated": "terminate"}[self.state]
        remark = next((record.remark for record in reversed(instance.records) if record.remark), "")
        try:
            with self.env.cr.savepoint():
                target = unlocked(document).with_context(
                    dingtalk_approval_id=self.id, dingtalk_approval_remark=remark
                )
                self.rule_id._run_outcome(target, outcome)
        except Exception as error:  # the document refuses the change: a person decides
            _logger.info(
                "DingTalk approval %s: %s of %s failed", self.instance_id, outcome, document, exc_info=True
            )
            self._flag(
                self.env._(
                    "Odoo could not apply the result: %(error)s", error=str(error) or type(error).__name__
                )
            )
            return
        self.applied = True
        self._post(self._result_message())

    def _current_fingerprint(self, document):
        rule = self.rule_id
        components = [
            field._as_component() for field in rule.template_id.field_ids.filtered(lambda f: not f.parent_id)
        ]
        try:
            return self._fingerprint(encode_form_values(components, rule._form_values(document)))
        except (FormValueError, UserError):
            return None

    def _flag(self, reason):
        self.write({"flagged": True, "flag_reason": reason})
        result = dict(STATES)[self.state]
        self._post(
            self.env._(
                "DingTalk approval result: %(result)s, not applied. %(reason)s", result=result, reason=reason
            )
        )
        self.company_id._dingtalk_alert(
            f"[Odoo] DingTalk approval {self.business_id or self.instance_id}: {result}, not applied. "
            f"{reason}",
            key=f"approval-{self.id}",
            record=self,
        )

    def _result_message(self):
        return {
            "approved": self.env._("Approved in DingTalk."),
            "refused": self.env._("Refused in DingTalk."),
            "terminated": self.env._("The DingTalk approval was revoked."),
        }[self.state]

    def _record(self):
        """The document, or an empty recordset when it was deleted."""
        self.ensure_one()
        if not self.res_model or self.res_model not in self.env:
            return self.env["ziqi.dingtalk.approval"].browse()
        return self.env[self.res_model].browse(self.res_id).exists()

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

    def action_refresh(self):
        for approval in self:
            try:
                approval._refresh()
            except dt_errors.DingTalkError as error:
                raise UserError(approval.company_id._dingtalk_error_message(error)) from error
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
            try:
                with self.env.cr.savepoint():
                    approval._refresh()
            except Exception:  # one approval's failure never stops the others
                _logger.warning("DingTalk approval %s could not be read", approval.instance_id, exc_info=True)
