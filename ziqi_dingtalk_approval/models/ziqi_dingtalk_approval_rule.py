import ast

from odoo import api, fields, models
from odoo.exceptions import UserError, ValidationError

from .ziqi_dingtalk_approval_rule_field import check_path, read_path

MIXIN = "ziqi.dingtalk.approval.mixin"
OUTCOMES = ("approve", "refuse", "terminate")


class ZiqiDingtalkApprovalRule(models.Model):
    """Which Odoo documents are approved in DingTalk, with which template, and what each result does.

    A document is approved under the first active rule (by sequence) of its model and company whose
    domain it matches."""

    _name = "ziqi.dingtalk.approval.rule"
    _description = "DingTalk Approval Rule"
    _order = "sequence, id"

    name = fields.Char(required=True, translate=True)
    active = fields.Boolean(default=True)
    sequence = fields.Integer(default=10)
    company_id = fields.Many2one("res.company", required=True, default=lambda self: self.env.company)
    model_id = fields.Many2one(
        "ir.model",
        "Document",
        required=True,
        ondelete="cascade",
        domain=lambda self: [("model", "in", self._approvable_models())],
        help="The kind of Odoo document approved in DingTalk (models that support DingTalk approval).",
    )
    model_name = fields.Char(related="model_id.model", store=True, string="Model Name")
    domain = fields.Char(
        "Documents",
        default="[]",
        required=True,
        help="Which documents of this kind the rule applies to, e.g. those above an amount.",
    )
    template_id = fields.Many2one(
        "ziqi.dingtalk.approval.template",
        "DingTalk Template",
        required=True,
        ondelete="restrict",
        domain="[('company_id', '=', company_id), ('status', '=', 'PUBLISHED')]",
    )
    line_ids = fields.One2many(
        "ziqi.dingtalk.approval.rule.field",
        "rule_id",
        "Form",
        domain=[("parent_id", "=", False)],
        copy=True,
        help="How each field of the DingTalk form is filled from the document.",
    )
    originator_path = fields.Char(
        "Originator",
        required=True,
        default="user_id",
        help="The field of the document naming who submits the approval in DingTalk (发起人): a user or "
        "an employee, e.g. user_id or employee_id. They need a DingTalk account in the directory.",
    )
    approve_method = fields.Char(
        "When Approved", help="The document's method run when DingTalk approves, e.g. button_approve."
    )
    refuse_method = fields.Char(
        "When Refused", help="The document's method run when DingTalk refuses, e.g. button_cancel."
    )
    terminate_method = fields.Char(
        "When Revoked in DingTalk",
        help="The document's method run when the approval is revoked (撤销) in DingTalk. Cancelling the "
        "document in Odoo revokes the approval in DingTalk.",
    )
    submit_state = fields.Char(
        "Submit On State",
        help="Submit automatically when the document's state becomes this value (technical value, e.g. "
        "to approve). Empty: only the Submit to DingTalk button submits.",
    )

    @api.model
    def _approvable_models(self):
        """The models whose documents can be approved in DingTalk: those inheriting the approval mixin."""
        registry = self.env.registry
        mixin = registry[MIXIN]
        return sorted(
            name for name, model in registry.items() if not model._abstract and issubclass(model, mixin)
        )

    @api.constrains(
        "model_id", "domain", "originator_path", "approve_method", "refuse_method", "terminate_method"
    )
    def _check_document_settings(self):
        for rule in self:
            model = self.env[rule.model_name]
            if rule.model_name not in self._approvable_models():
                raise ValidationError(
                    self.env._("%(model)s does not support DingTalk approval.", model=rule.model_id.name)
                )
            rule._parse_domain()
            target = check_path(model, rule.originator_path, self.env)
            if getattr(target, "comodel_name", None) not in ("res.users", "hr.employee"):
                raise ValidationError(
                    self.env._(
                        "The originator must be a field naming a user or an employee, not %(path)s.",
                        path=rule.originator_path,
                    )
                )
            for outcome in OUTCOMES:
                rule._check_method(model, rule[f"{outcome}_method"])

    @api.constrains("template_id", "company_id")
    def _check_template_company(self):
        for rule in self:
            if rule.template_id.company_id != rule.company_id:
                raise ValidationError(self.env._("The DingTalk template belongs to another company."))

    def _check_method(self, model, name):
        """A result runs one of the document's public methods (what a user's button runs), or one of the
        hooks its module lists in ``_dingtalk_approval_hooks``; never any other private method."""
        if not name:
            return
        allowed = name in model._dingtalk_approval_hooks() or not name.startswith("_")
        if not (allowed and callable(getattr(model, name, None))):
            raise ValidationError(
                self.env._(
                    "%(model)s has no method %(method)s that an approval may run.",
                    model=self.model_id.name,
                    method=name,
                )
            )

    def _parse_domain(self):
        try:
            domain = ast.literal_eval(self.domain or "[]")
            self.env[self.model_name].search_count(domain, limit=1)
        except Exception as error:
            raise ValidationError(
                self.env._(
                    "The documents' filter of %(rule)s is not valid: %(error)s", rule=self.name, error=error
                )
            ) from error
        return domain

    # --- applying a rule to a document ---

    @api.model
    def _for_document(self, document):
        """The rule ``document`` is approved under, or an empty recordset."""
        company = document["company_id"] if "company_id" in document._fields else self.env.company
        rules = self.sudo().search(
            [("model_name", "=", document._name), ("company_id", "=", (company or self.env.company).id)]
        )
        for rule in rules:
            if document.sudo().filtered_domain(rule._parse_domain()):
                return rule
        return rules.browse()

    def _originator(self, document):
        """``(employee, userid, dept_id)`` of who submits ``document`` in DingTalk; a UserError naming the
        fix when they have no DingTalk account."""
        value = read_path(document.sudo(), self.originator_path)[:1]
        if not value:
            raise UserError(
                self.env._(
                    "%(document)s has no originator for the DingTalk approval.",
                    document=document.display_name,
                )
            )
        employee = value
        if value._name == "res.users":
            employee = value.employee_ids.filtered(lambda e: e.company_id == self.company_id)[:1]
        if employee.company_id != self.company_id or not employee.dingtalk_userid:
            raise UserError(
                self.env._(
                    "%(person)s has no DingTalk account in %(company)s, so they cannot submit %(document)s "
                    "to DingTalk. Sync the directory from DingTalk, or link their employee to their "
                    "DingTalk account.",
                    person=value.display_name,
                    company=self.company_id.name,
                    document=document.display_name,
                )
            )
        department = employee.dingtalk_department_ids[:1]
        dept_id = int(department.dingtalk_id) if department.dingtalk_id else -1  # -1: the root [KB:API/0497]
        return employee, employee.dingtalk_userid, dept_id

    def _components(self):
        """The protocol layer's view of the template's form (what values are checked against)."""
        return [
            field._as_component() for field in self.template_id.field_ids.filtered(lambda f: not f.parent_id)
        ]

    def _form_values(self, document):
        """{label: value} of the DingTalk form for ``document`` (encoded by the protocol layer)."""
        return {line.template_field_id.label: line._value(document.sudo()) for line in self.line_ids}

    def _form_error_message(self, error, document, values):
        """What a person reads when the document does not fill DingTalk's form (a FormValueError)."""
        if error.reason == "required" and error.label not in values:
            return self.env._(
                "The rule %(rule)s fills nothing into %(label)s, which the DingTalk template requires: add "
                "it to the rule's form.",
                rule=self.name,
                label=error.label,
            )
        if error.reason == "required":
            return self.env._(
                "%(document)s leaves %(label)s empty, which the DingTalk template requires.",
                document=document.display_name,
                label=error.label,
            )
        return self.env._(
            "DingTalk's form field %(label)s cannot take the value of %(document)s: %(reason)s",
            label=error.label,
            document=document.display_name,
            reason=error.reason,
        )

    def _run_outcome(self, document, outcome):
        """Run what ``outcome`` does in Odoo on ``document``; returns whether a method ran."""
        name = self[f"{outcome}_method"]
        if not name:
            return False
        getattr(document, name)()
        return True
