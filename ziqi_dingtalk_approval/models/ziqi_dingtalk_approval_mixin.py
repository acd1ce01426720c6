from lxml import etree

from odoo import api, fields, models
from odoo.exceptions import UserError

from .ziqi_dingtalk_approval import STATES, bypassing, unlocked

# what may still change on a document in approval: its chatter, activities and DingTalk state
UNLOCKED_PREFIXES = ("message_", "activity_", "website_message", "dingtalk_", "rating_")
# the banners on an approvable document's form: (text, Bootstrap alert kind, when hidden)
BANNERS = (
    ("running", "info", "dingtalk_approval_state != 'running'"),
    ("refused", "danger", "dingtalk_approval_state != 'refused'"),
    ("flagged", "warning", "not dingtalk_approval_flagged"),
)


def changes(records, field, value):
    """Whether writing ``value`` to ``field`` of ``records`` changes what a person entered: never for a
    field only Odoo computes, nor for a value written again as it is."""
    if field.compute and field.readonly and not field.inverse:
        return False
    if field.type in ("one2many", "many2many"):
        return True
    try:
        new = field.convert_to_record(field.convert_to_cache(value, records), records)
    except Exception:  # a value the field would refuse anyway: a change
        return True
    return any(record[field.name] != new for record in records)


class ZiqiDingtalkApprovalMixin(models.AbstractModel):
    """Approval in DingTalk for a kind of Odoo document. A module makes a model approvable with
    ``_inherit = ["<model>", "ziqi.dingtalk.approval.mixin"]`` (the buttons are added to its form views),
    says when a document may be submitted (``_dingtalk_submittable``), guards its own approve methods
    with ``_dingtalk_check_not_bypassed`` and cancels through ``_dingtalk_revoking``."""

    _name = "ziqi.dingtalk.approval.mixin"
    _description = "DingTalk Approval (document)"
    # the stored field whose value a rule's "Submit On State" watches
    _dingtalk_state_field = "state"

    dingtalk_approval_state = fields.Selection(
        [("none", "Not Submitted"), *STATES],
        "DingTalk Approval",
        compute="_compute_dingtalk_approval",
    )
    dingtalk_approval_url = fields.Char("DingTalk Approval Link", compute="_compute_dingtalk_approval")
    dingtalk_approval_flagged = fields.Boolean(compute="_compute_dingtalk_approval")
    dingtalk_approval_can_submit = fields.Boolean(compute="_compute_dingtalk_approval")
    dingtalk_approval_count = fields.Integer(compute="_compute_dingtalk_approval")

    def _compute_dingtalk_approval(self):
        approvals = self._dingtalk_approvals()
        Rule = self.env["ziqi.dingtalk.approval.rule"]
        for record in self:
            mine = approvals.filtered(lambda a, record=record: a.res_id == record.id)
            latest = mine[:1]
            record.dingtalk_approval_state = latest.state or "none"
            record.dingtalk_approval_url = latest.url
            record.dingtalk_approval_flagged = latest.flagged
            record.dingtalk_approval_count = len(mine)
            record.dingtalk_approval_can_submit = bool(
                record.id
                and latest.state != "running"
                and record._dingtalk_submittable()
                and Rule._for_document(record)
            )

    def _dingtalk_approvals(self):
        """The approvals of these documents, latest first (read as the system: approvals are admin
        records, what a user sees of them is on their document)."""
        return (
            self.env["ziqi.dingtalk.approval"]
            .sudo()
            .search([("res_model", "=", self._name), ("res_id", "in", self.ids)], order="id desc")
        )

    def _dingtalk_running_approval(self):
        return self._dingtalk_approvals().filtered(lambda a: a.state == "running")

    def _dingtalk_submittable(self):
        """Whether this document may be submitted now (a glue module says in which states: a confirmed
        order is not approved again)."""
        self.ensure_one()
        return True

    @api.model
    def _dingtalk_approval_hooks(self):
        """Private methods of this model a rule may run for a result (glue modules add theirs)."""
        return []

    @api.model
    def _dingtalk_unlocked_fields(self):
        """Fields that may change while the document is in approval."""
        return {"write_date", "write_uid", "__last_update"}

    # --- the lock ---

    def write(self, vals):
        if not bypassing(self) and self._dingtalk_locked_fields(vals):
            self._dingtalk_check_unlocked()
        result = super().write(vals)
        state_field = self._dingtalk_state_field
        if state_field in vals and not bypassing(self):
            self._dingtalk_submit_on_state(vals[state_field])
        return result

    def _dingtalk_locked_fields(self, vals):
        """The fields of ``vals`` that would change a document in approval: not its chatter's, nor those
        only Odoo computes, nor a value written again as it is (a compute of Odoo's assigning a field
        on the side, e.g. an expense report's department)."""
        unlocked = self._dingtalk_unlocked_fields()
        locked = []
        for name, value in vals.items():
            field = self._fields.get(name)
            if name in unlocked or name.startswith(UNLOCKED_PREFIXES) or field is None:
                continue
            if changes(self, field, value):
                locked.append(name)
        return locked

    def unlink(self):
        if not bypassing(self):
            self._dingtalk_check_unlocked()
        return super().unlink()

    def _dingtalk_check_unlocked(self):
        """A UserError when one of these documents is in approval (for changes beside ``write``: its
        lines, its deletion)."""
        running = self._dingtalk_running_approval()
        if running:
            documents = self.browse(running.mapped("res_id"))
            raise UserError(
                self.env._(
                    "%(documents)s is in approval in DingTalk and cannot be changed. Wait for the "
                    "result, or cancel the document (that revokes the approval).",
                    documents=", ".join(documents.mapped("display_name")),
                )
            )

    def _dingtalk_submit_on_state(self, state):
        """Submission when a document reaches its rule's state."""
        Rule = self.env["ziqi.dingtalk.approval.rule"]
        for record in self:
            rule = Rule._for_document(record)
            if rule.submit_state and rule.submit_state == state and not record._dingtalk_running_approval():
                self.env["ziqi.dingtalk.approval"]._submit(record)

    def _dingtalk_check_not_bypassed(self):
        """For a document's own approve/confirm buttons: while a DingTalk rule applies to the document,
        only DingTalk's approval may run them."""
        if bypassing(self):
            return
        Rule = self.env["ziqi.dingtalk.approval.rule"]
        for record in self:
            if Rule._for_document(record):
                raise UserError(
                    self.env._(
                        "%(document)s is approved in DingTalk: use Submit to DingTalk.",
                        document=record.display_name,
                    )
                )

    # --- the form: DingTalk's buttons and status on every approvable document's form view ---

    @api.model
    def _get_view(self, view_id=None, view_type="form", **options):
        arch, view = super()._get_view(view_id, view_type, **options)
        if view_type == "form":
            self._dingtalk_add_controls(arch)
        return arch, view

    def _dingtalk_add_controls(self, arch):
        header = arch.find(".//header")
        if header is None:
            header = etree.Element("header")
            arch.insert(0, header)
        for name in (
            "dingtalk_approval_can_submit",
            "dingtalk_approval_url",
            "dingtalk_approval_state",
            "dingtalk_approval_flagged",
        ):
            header.insert(0, etree.Element("field", name=name, invisible="1"))
        header.insert(
            0,
            etree.Element(
                "button",
                name="action_dingtalk_open",
                type="object",
                string=self.env._("Open in DingTalk"),
                invisible="not dingtalk_approval_url",
            ),
        )
        header.insert(
            0,
            etree.Element(
                "button",
                name="action_dingtalk_submit",
                type="object",
                string=self.env._("Submit to DingTalk"),
                invisible="not dingtalk_approval_can_submit",
                **{"class": "btn-primary", "data-hotkey": "k"},
            ),
        )
        sheet = arch.find(".//sheet")
        texts = {
            "running": self.env._(
                "In approval in DingTalk: this document is locked until DingTalk's result."
            ),
            "refused": self.env._("Refused in DingTalk."),
            "flagged": self.env._("DingTalk's approval result was not applied: see the chatter."),
        }
        parent = sheet if sheet is not None else arch
        for name, kind, invisible in reversed(BANNERS):
            text = texts[name]
            banner = etree.Element(
                "div",
                role="alert",
                invisible=invisible,
                **{"class": f"alert alert-{kind} o_dingtalk_approval"},
            )
            banner.text = text
            parent.insert(0, banner)

    # --- actions ---

    def action_dingtalk_submit(self):
        self.check_access("write")
        for record in self:
            self.env["ziqi.dingtalk.approval"]._submit(record)
        return True

    def action_dingtalk_open(self):
        self.ensure_one()
        if not self.dingtalk_approval_url:
            raise UserError(self.env._("%(document)s has no DingTalk approval.", document=self.display_name))
        return {"type": "ir.actions.act_url", "url": self.dingtalk_approval_url, "target": "new"}

    def _dingtalk_revoking(self, cancel):
        """Cancel these documents in Odoo with ``cancel(records)`` (their own cancel method), then revoke
        their running DingTalk approvals: last, so that DingTalk refusing to revoke rolls the cancel back,
        and only for a user allowed to change the documents."""
        self.check_access("write")
        running = self._dingtalk_running_approval()
        result = cancel(unlocked(self) if running else self)
        if running:
            running._terminate(self.env._("Cancelled in Odoo by %(user)s", user=self.env.user.name))
        return result
