from odoo import api, models
from odoo.addons.ziqi_dingtalk_approval.models.ziqi_dingtalk_approval import bypassing, unlocked
from odoo.addons.ziqi_dingtalk_approval.models.ziqi_dingtalk_approval_mixin import changes


class PurchaseOrder(models.Model):
    """A purchase order approved in DingTalk: "Confirm Order" and Odoo's own approval (double validation)
    give way to DingTalk's while a rule applies; approving confirms the order, cancelling it in Odoo
    revokes the DingTalk approval. RFQs (draft, sent) are submitted; a confirmed order is not."""

    _name = "purchase.order"
    _inherit = ["purchase.order", "ziqi.dingtalk.approval.mixin"]

    @api.model
    def _dingtalk_approval_hooks(self):
        return [*super()._dingtalk_approval_hooks(), "_dingtalk_approve_order"]

    @api.model
    def _dingtalk_unlocked_fields(self):
        # sending or printing an RFQ in approval makes a portal link
        return super()._dingtalk_unlocked_fields() | {"access_token"}

    def _dingtalk_locked_fields(self, vals):
        locked = super()._dingtalk_locked_fields(vals)
        if "state" in locked and vals["state"] == "sent" and all(o.state in ("draft", "sent") for o in self):
            locked.remove("state")  # "Send by email" / "Print RFQ" of an RFQ in approval
        return locked

    def _dingtalk_submittable(self):
        return self.state in ("draft", "sent")

    def _dingtalk_approve_order(self):
        """DingTalk approved: confirm the order, DingTalk's approval standing for Odoo's double validation."""
        orders = unlocked(self)
        orders.filtered(lambda order: order.state in ("draft", "sent")).button_confirm()
        orders.filtered(lambda order: order.state == "to approve").button_approve()

    def _approval_allowed(self):
        return bypassing(self) or super()._approval_allowed()

    def button_confirm(self):
        self._dingtalk_check_not_bypassed()
        return super().button_confirm()

    def button_approve(self, force=False):
        self._dingtalk_check_not_bypassed()
        return super().button_approve(force=force)

    def button_cancel(self):
        return self._dingtalk_revoking(lambda orders: super(PurchaseOrder, orders).button_cancel())


class PurchaseOrderLine(models.Model):
    """An order's lines are part of what DingTalk's approvers see: locked with the order."""

    _inherit = "purchase.order.line"

    @api.model_create_multi
    def create(self, vals_list):
        orders = self.env["purchase.order"].browse(
            {vals.get("order_id") for vals in vals_list} - {None, False}
        )
        if not bypassing(self):
            orders._dingtalk_check_unlocked()
        return super().create(vals_list)

    def write(self, vals):
        if not bypassing(self) and self._dingtalk_line_changes(vals):
            self.order_id._dingtalk_check_unlocked()
        return super().write(vals)

    def unlink(self):
        if not bypassing(self):
            self.order_id._dingtalk_check_unlocked()
        return super().unlink()

    def _dingtalk_line_changes(self, vals):
        """Whether ``vals`` changes what the lines say (see ``changes``)."""
        return any(
            changes(self, self._fields[name], value) for name, value in vals.items() if name in self._fields
        )
