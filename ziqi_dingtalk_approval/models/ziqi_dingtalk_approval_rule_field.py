from odoo import api, fields, models
from odoo.exceptions import ValidationError
from odoo.tools import html2plaintext

from .ziqi_dingtalk_approval_template import FILLABLE_TYPES

X2MANY = ("one2many", "many2many")


def check_path(model, path, env):
    """The field a dotted ``path`` of field names (``partner_id.name``) reaches from ``model``; a
    ValidationError naming the part that is not a field. Only the last part may be a non-relational
    field."""
    field = None
    for part in (path or "").split("."):
        if field is not None:
            if not field.relational:
                raise ValidationError(
                    env._("%(path)s: %(field)s has no fields.", path=path, field=field.name)
                )
            model = env[field.comodel_name]
        field = model._fields.get(part.strip())
        if field is None:
            raise ValidationError(
                env._(
                    "%(path)s: %(model)s has no field %(part)s.",
                    path=path,
                    model=model._description,
                    part=part,
                )
            )
    return field


def read_path(record, path):
    """The value ``path`` reaches from ``record`` (a recordset for a relational field)."""
    value = record
    for part in path.split("."):
        value = value[part.strip()]
    return value


class ZiqiDingtalkApprovalRuleField(models.Model):
    """How one field of the DingTalk form is filled: from a field of the document, or, for a table (明细),
    one row per record of a lines field, each column from a field of the line."""

    _name = "ziqi.dingtalk.approval.rule.field"
    _description = "DingTalk Approval Form Mapping"
    _order = "sequence, id"

    rule_id = fields.Many2one("ziqi.dingtalk.approval.rule", required=True, ondelete="cascade", index=True)
    parent_id = fields.Many2one("ziqi.dingtalk.approval.rule.field", "Table", ondelete="cascade", index=True)
    child_ids = fields.One2many("ziqi.dingtalk.approval.rule.field", "parent_id", "Columns", copy=True)
    sequence = fields.Integer(default=10)
    template_field_id = fields.Many2one(
        "ziqi.dingtalk.approval.template.field", "DingTalk Field", required=True, ondelete="cascade"
    )
    component_type = fields.Char(related="template_field_id.component_type", string="Type")
    source_path = fields.Char(
        "Odoo Field",
        required=True,
        help="The document's field (a path such as partner_id.name); for a table, its lines field (such "
        "as order_line), the columns then read the line's fields.",
    )

    @api.model_create_multi
    def create(self, vals_list):
        for vals in vals_list:  # a table's columns belong to the table's rule
            if vals.get("parent_id") and not vals.get("rule_id"):
                vals["rule_id"] = self.browse(vals["parent_id"]).rule_id.id
        return super().create(vals_list)

    @api.constrains("template_field_id", "source_path", "parent_id", "rule_id")
    def _check_mapping(self):
        for line in self:
            component = line.template_field_id
            if component.component_type == "DDAttachment":
                raise ValidationError(
                    self.env._(
                        "%(label)s: DingTalk does not let a server attach files to an approval (only its own "
                        "app can upload them), so attachments cannot be filled from Odoo.",
                        label=component.label,
                    )
                )
            if component.component_type not in FILLABLE_TYPES:
                raise ValidationError(
                    self.env._(
                        "%(label)s: a %(type)s field cannot be filled by Odoo.",
                        label=component.label,
                        type=component.component_type,
                    )
                )
            expected_parent = line.parent_id.template_field_id
            if component.parent_id != expected_parent or component.template_id != line.rule_id.template_id:
                raise ValidationError(
                    self.env._("%(label)s is not a field of this form or table.", label=component.label)
                )
            field = check_path(line._source_model(), line.source_path, self.env)
            if (component.component_type == "TableField") != (field.type in X2MANY):
                raise ValidationError(
                    self.env._(
                        "%(label)s: a table is filled from a lines field, and only a table is.",
                        label=component.label,
                    )
                )

    def _source_model(self):
        """The model this line's source path starts from: the document, or a table's lines."""
        if self.parent_id:
            return self.env[
                check_path(self._document_model(), self.parent_id.source_path, self.env).comodel_name
            ]
        return self._document_model()

    def _document_model(self):
        return self.env[self.rule_id.model_name or self.parent_id.rule_id.model_name]

    def _value(self, record):
        """This form field's value for ``record`` (plain Python: encode_form_values makes it DingTalk's)."""
        value = read_path(record, self.source_path)
        if self.component_type == "TableField":
            return [
                {child.template_field_id.label: child._value(row) for child in self.child_ids}
                for row in value
            ]
        field = check_path(record, self.source_path, self.env)
        return self._plain(value, field, record)

    def _plain(self, value, field, record):
        if field.type == "boolean":
            return self.env._("Yes") if value else self.env._("No")
        if isinstance(value, models.BaseModel):
            return ", ".join(value.mapped("display_name")) or None
        if value is False or value is None:
            return None
        if field.type == "selection":
            return dict(field._description_selection(self.env)).get(value, value)
        if field.type == "datetime":
            return fields.Datetime.context_timestamp(record, value)
        if field.type == "html":
            return html2plaintext(value)
        return value
