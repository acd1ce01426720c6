import hashlib
import json
import logging

import psycopg2

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
from odoo.tools import SQL

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
    # the language and time zone the form was filled in: the fingerprint is computed again in them
    form_lang = fields.Char("Form Language", readonly=True)
    form_tz = fields.Char("Form Time Zone", readonly=True)
    posted_records = fields.Json(readonly=True, help="The DingTalk actions already posted in the chatter.")
    submitted_at = fields.Datetime(readonly=True, default=fields.Datetime.now)
    finished_at = fields.Datetime(readonly=True)
    refreshed_at = fields.Datetime("Read from DingTalk", readonly=True)

    _instance_uniq = constraint(
        "unique(company_id, instance_id)", "Each DingTalk approval instance is recorded once."
    )

    def init(self):
        # one running approval per document, whatever two submissions at once do
        self.env.cr.execute(
            """CREATE UNIQUE INDEX IF NOT EXISTS ziqi_dingtalk_approval_one_running
               ON ziqi_dingtalk_approval (res_model, res_id) WHERE state = 'running'"""
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
        self._lock_document(document)
        if document._dingtalk_running_approval():
            raise UserError(
                self.env._("%(document)s is already in approval.", document=document.display_name)
            )
        if not document._dingtalk_submittable():
            raise UserError(
                self.env._(
                    "%(document)s cannot be submitted for approval in its state.",
                    document=document.display_name,
                )
            )
        employee, userid, dept_id = rule._originator(document)
        self._check_submitter(employee, document)
        form = self._encode_form(rule, document)
        instance_id = self._start(rule, userid, dept_id, form)
        approval = self.sudo().create(
            {
                "company_id": rule.company_id.id,
                "rule_id": rule.id,
                "res_model": document._name,
                "res_id": document.id,
                "instance_id": instance_id,
                "title": rule.template_id.name,
                "url": instance_url(rule.company_id.sudo().dingtalk_corp_id or "", instance_id),
                "originator_userid": userid,
                "fingerprint": self._fingerprint(form),
                "form_lang": self.env.lang,
                "form_tz": self.env.context.get("tz") or self.env.user.tz,
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

    def _lock_document(self, document):
        """Two submissions of one document run one after another (a double click, two people)."""
        self.env.cr.execute(
            SQL("SELECT id FROM %s WHERE id = %s FOR UPDATE", SQL.identifier(document._table), document.id)
        )

    def _check_submitter(self, employee, document):
        """Only the originator submits in their own name (DingTalk routes, and may pass, an approval by
        its originator), or a Settings admin for them."""
        user = self.env.user
        if employee.user_id != user and not (self.env.su or user.has_group("base.group_system")):
            raise UserError(
                self.env._(
                    "Only %(person)s, who submits %(document)s in DingTalk (the document's originator), can "
                    "submit it.",
                    person=employee.name,
                    document=document.display_name,
                )
            )

    @api.model
    def _encode_form(self, rule, document):
        values = rule._form_values(document)
        try:
            return encode_form_values(rule._components(), values)
        except FormValueError as error:
            raise UserError(rule._form_error_message(error, document, values)) from error

    @api.model
    def _start(self, rule, userid, dept_id, form):
        company = rule.company_id
        agent_id = company.sudo().dingtalk_agent_id
        try:
            return WorkflowClient(company._dingtalk_client()).start(
                rule.template_id.process_code,
                userid,
                dept_id,
                form,
                agent_id=int(agent_id) if agent_id and agent_id.strip().isdigit() else None,
            )
        except dt_errors.DingTalkError as error:
            raise UserError(company._dingtalk_error_message(error)) from error

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

    def _apply_result(self, instance, force=False):
        """Run what the rule says for the result, unless the document is gone or changed since it was
        submitted, or the rule was deleted: then the result is recorded and flagged for a person (who
        may apply it anyway: ``force``)."""
        document = self._record()
        reason = None
        if not document:
            reason = self.env._("The document was deleted.")
        elif not self.rule_id:
            reason = self.env._("The approval rule was deleted: Odoo does not know what the result does.")
        elif not force and self.fingerprint != self._current_fingerprint(document):
            reason = self.env._(
                "The document changed after it was submitted: the approvers saw other values. Check it, "
                "then apply the result by hand or submit it again."
            )
        if reason:
            self._flag(reason)
            return
        outcome = {"approved": "approve", "refused": "refuse", "terminated": "terminate"}[self.state]
        # the refusal's own comment, not a later remark of somebody else
        remark = next((r.remark for r in reversed(instance.records) if r.result == "REFUSE" and r.remark), "")
        try:
            with self.env.cr.savepoint():
                target = unlocked(document).with_company(self.company_id)
                self.rule_id._run_outcome(
                    target.with_context(dingtalk_approval_id=self.id, dingtalk_approval_remark=remark),
                    outcome,
                )
        except psycopg2.OperationalError:
            raise  # a lock or a concurrent update: the event is retried, nothing is flagged
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
        self.write({"applied": True, "flagged": False, "flag_reason": False})
        self._post(self._result_message())

    def _current_fingerprint(self, document):
        """The fingerprint of the form ``document`` fills now, in the language and time zone it was
        submitted in (labels, dates)."""
        document = document.with_context(lang=self.form_lang or None, tz=self.form_tz or None)
        try:
            return self._fingerprint(self._encode_form(self.rule_id, document))
        except UserError:
            return None

    def _record(self):
        """The document, or an empty recordset when it was deleted."""
        self.ensure_one()
        if not self.res_model or self.res_model not in self.env:
            return self.env["ziqi.dingtalk.approval"].browse()
        return self.env[self.res_model].browse(self.res_id).exists()
