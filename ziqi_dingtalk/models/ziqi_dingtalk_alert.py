from odoo import api, fields, models

from ..compat import constraint


class ZiqiDingtalkAlert(models.Model):
    """When each kind of failure was last alerted, so the same failure alerts once per period."""

    _name = "ziqi.dingtalk.alert"
    _description = "DingTalk Alert Throttle"

    company_id = fields.Many2one("res.company", required=True, index=True, ondelete="cascade")
    key = fields.Char(required=True)
    last_sent_at = fields.Datetime()
    suppressed = fields.Integer(help="Occurrences not alerted since the last alert.")

    _company_key_uniq = constraint("unique(company_id, key)", "One throttle per failure kind.")

    @api.model
    def _should_send(self, company, key):
        """True when ``key`` was not alerted within the company's alert period; counts the ones held back."""
        throttle = self.sudo().search([("company_id", "=", company.id), ("key", "=", key)], limit=1)
        now = fields.Datetime.now()
        window = company.dingtalk_alert_period or 0
        if throttle and throttle.last_sent_at and (now - throttle.last_sent_at).total_seconds() < window * 60:
            throttle.suppressed += 1
            return False, 0
        held_back = throttle.suppressed if throttle else 0
        if throttle:
            throttle.write({"last_sent_at": now, "suppressed": 0})
        else:
            self.sudo().create({"company_id": company.id, "key": key, "last_sent_at": now})
        return True, held_back
