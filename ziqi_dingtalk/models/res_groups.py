from odoo import models


class ResGroups(models.Model):
    _inherit = "res.groups"

    def write(self, vals):
        result = super().write(vals)
        if "implied_ids" in vals:
            # a group mapped to a DingTalk role may not come to imply administration: its members would
            # become admins at once (Odoo adds implied groups to a group's users as soon as it is written)
            roles = self.env["ziqi.dingtalk.role"].sudo().with_context(active_test=False)
            roles.search([("group_ids", "!=", False)])._check_group_ids()
        return result
