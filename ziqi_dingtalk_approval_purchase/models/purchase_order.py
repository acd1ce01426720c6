from odoo import api, models
from odoo.addons.ziqi_dingtalk_approval.models.ziqi_dingtalk_approval import bypassing, unlocked


class PurchaseOrder(models.Model):
    """A purchase order approved in DingTalk: "Confirm Order" and Odoo's own approval (double validation)
    give way to DingTalk's while a rule applies; approving confirms the order, cancelling it in Odoo
    revokes the DingTalk approval."""

    _name = "purchase.order"
    _inherit = ["purchase.order", "ziqi.dingtalk.approval.mixin"]

    @api.model
    def _dingtalk_approval_hooks(self):
        return [*super()._dingtalk_approval_hooks(), "_dingtalk_approve_order"]

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
        return super(PurchaseOrder, self._dingtalk_terminate()).button_cancel()
