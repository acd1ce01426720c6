import logging

from odoo import api, fields, models
from odoo.addons.ziqi_dingtalk.compat import constraint
from odoo.addons.ziqi_dingtalk.dingtalk import errors as dt_errors
from odoo.addons.ziqi_dingtalk.dingtalk.workflow import Component, WorkflowClient
from odoo.exceptions import AccessError, UserError

_logger = logging.getLogger(__name__)

# what encode_form_values can fill from Odoo (docs/dingtalk-approval-protocol.md §2.1); DDAttachment is
# listed but refused by the rules: DingTalk takes files only from its client (JSAPI), not from a server
FILLABLE_TYPES = (
    "TextField",
    "TextareaField",
    "NumberField",
    "MoneyField",
    "DDDateField",
    "DDSelectField",
    "DDMultiSelectField",
    "TableField",
    "PhoneField",
    "InnerContactField",
)


class ZiqiDingtalkApprovalTemplate(models.Model):
    """A DingTalk approval template (审批模板) the app can see, with its form: read from DingTalk, never
    edited in Odoo (the form is designed in DingTalk's approval admin console)."""

    _name = "ziqi.dingtalk.approval.template"
    _description = "DingTalk Approval Template"
    _order = "name, id"

    name = fields.Char(required=True, readonly=True)
    company_id = fields.Many2one("res.company", required=True, readonly=True, index=True)
    process_code = fields.Char(required=True, readonly=True)
    dir_name = fields.Char("Group", readonly=True)
    icon_url = fields.Char(readonly=True)
    status = fields.Selection(
        [("PUBLISHED", "Enabled"), ("INVALID", "Disabled"), ("SAVED", "Draft")],
        readonly=True,
        help="Only enabled templates can start approvals.",
    )
    active = fields.Boolean(default=True, readonly=True)
    field_ids = fields.One2many(
        "ziqi.dingtalk.approval.template.field", "template_id", "Form Fields", readonly=True
    )
    refreshed_at = fields.Datetime("Read from DingTalk", readonly=True)

    _process_code_uniq = constraint(
        "unique(company_id, process_code)", "Each DingTalk approval template is listed once per company."
    )

    @api.depends("name", "process_code")
    def _compute_display_name(self):
        for template in self:
            template.display_name = template.name or template.process_code

    def action_refresh(self):
        """Read the templates again from DingTalk (for the companies of these records, or the current
        one)."""
        if not (self.env.su or self.env.user.has_group("base.group_system")):
            raise AccessError(
                self.env._("Only Settings administrators can read DingTalk's approval templates.")
            )
        for company in (self.company_id or self.env.company).sudo():
            self.sudo()._refresh_company(company)
        return True

    @api.model
    def _refresh_company(self, company):
        """Upsert the company's templates and their forms; templates DingTalk no longer lists are
        archived (rules keep pointing at them and say so). Costs 1 + one call per template of DingTalk's
        monthly quota (docs/dingtalk-approval-protocol.md §3)."""
        workflow = WorkflowClient(company._dingtalk_client())
        try:
            listed = list(workflow.iter_templates())
            schemas = {t.process_code: workflow.form_schema(t.process_code) for t in listed}
        except dt_errors.DingTalkError as error:
            raise UserError(company._dingtalk_error_message(error)) from error
        existing = self.with_context(active_test=False).search([("company_id", "=", company.id)])
        by_code = {template.process_code: template for template in existing}
        now = fields.Datetime.now()
        for listed_template in listed:
            schema = schemas[listed_template.process_code]
            vals = {
                "name": listed_template.name or schema.name,
                "dir_name": listed_template.dir_name,
                "icon_url": listed_template.icon_url,
                "status": schema.status if schema.status in ("PUBLISHED", "INVALID", "SAVED") else False,
                "active": True,
                "refreshed_at": now,
            }
            template = by_code.get(listed_template.process_code)
            if template:
                template.write(vals)
            else:
                template = self.create(
                    dict(vals, company_id=company.id, process_code=listed_template.process_code)
                )
            template.field_ids._sync_components(template, schema.components)
        (existing - self.browse([by_code[c].id for c in schemas if c in by_code])).active = False
        _logger.info("DingTalk approval templates of %s: %d read", company.name, len(listed))


class ZiqiDingtalkApprovalTemplateField(models.Model):
    """A component of a template's form (控件): matched to DingTalk by its component id, sent by its
    label (DingTalk's ``name`` of a form value is the component's label [KB:API/0497])."""

    _name = "ziqi.dingtalk.approval.template.field"
    _description = "DingTalk Approval Form Field"
    _order = "template_id, sequence, id"
    _rec_name = "label"

    template_id = fields.Many2one(
        "ziqi.dingtalk.approval.template", required=True, ondelete="cascade", index=True
    )
    parent_id = fields.Many2one(
        "ziqi.dingtalk.approval.template.field", "Table", ondelete="cascade", index=True
    )
    child_ids = fields.One2many("ziqi.dingtalk.approval.template.field", "parent_id", "Columns")
    sequence = fields.Integer()
    component_id = fields.Char("Component", required=True)
    label = fields.Char(required=True)
    component_type = fields.Char("Type", required=True)
    required = fields.Boolean()
    options = fields.Json()
    date_format = fields.Char()
    fillable = fields.Boolean(compute="_compute_fillable")

    @api.depends("component_type")
    def _compute_fillable(self):
        for field in self:
            field.fillable = field.component_type in FILLABLE_TYPES

    @api.depends("label", "component_type", "required")
    def _compute_display_name(self):
        for field in self:
            mark = " *" if field.required else ""
            field.display_name = f"{field.label}{mark} ({field.component_type})"

    def _sync_components(self, template, components, parent=None):
        """Make this template's fields (those under ``parent``) the schema's ``components``: matched by
        component id, updated in place (rule mappings keep pointing at them), the rest deleted."""
        current = self.search([("template_id", "=", template.id), ("parent_id", "=", parent and parent.id)])
        by_id = {field.component_id: field for field in current}
        kept = self.browse()
        for sequence, component in enumerate(components):
            vals = {
                "sequence": sequence,
                "label": component.label,
                "component_type": component.type,
                "required": component.required,
                "options": list(component.options) or False,
                "date_format": component.format or False,
            }
            field = by_id.get(component.id)
            if field:
                field.write(vals)
            else:
                field = self.create(
                    dict(
                        vals,
                        template_id=template.id,
                        parent_id=parent and parent.id,
                        component_id=component.id,
                    )
                )
            kept |= field
            self._sync_components(template, component.children, parent=field)
        (current - kept).unlink()

    def _as_component(self):
        """The protocol layer's view of this field (what encode_form_values checks values against)."""
        self.ensure_one()
        return Component(
            id=self.component_id,
            label=self.label,
            type=self.component_type,
            required=self.required,
            options=tuple(self.options or ()),
            format=self.date_format or "",
            children=tuple(child._as_component() for child in self.child_ids),
        )
