from odoo.addons.ziqi_dingtalk.compat import ODOO_19

from . import expense_approval  # the hooks both versions share

# Odoo 19 approves each expense; Odoo 18 approves expense reports (hr.expense.sheet, gone in 19)
if ODOO_19:
    from . import hr_expense
else:
    from . import hr_expense_sheet
