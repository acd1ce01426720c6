{
    "name": "DingTalk Approval for Expenses (报销钉钉审批)",
    "summary": "Approve expenses in DingTalk: the expense report on Odoo 18, the expense on Odoo 19",
    "version": "1.0.0",  # pylint: disable=manifest-version-format
    "category": "Human Resources/Expenses",
    "author": "ziqi",
    "website": "https://github.com/ziqi/ziqi_dingtalk",
    "license": "LGPL-3",
    "depends": ["ziqi_dingtalk_approval", "hr_expense"],
    "auto_install": True,
    "installable": True,
}
