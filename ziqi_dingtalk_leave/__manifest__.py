{
    "name": "DingTalk Leave (钉钉假期)",
    "summary": "Import the leave approved in DingTalk as validated Odoo time off, with their cancellations",
    # no series: Odoo prefixes its own (18.0.1.0.0, 19.0.1.0.0), so one manifest installs on both
    "version": "1.0.0",  # pylint: disable=manifest-version-format
    "category": "Human Resources/Time Off",
    "author": "ziqi",
    "website": "https://github.com/ziqi/ziqi_dingtalk",
    "license": "LGPL-3",
    "depends": ["ziqi_dingtalk", "hr_holidays"],
    "data": [
        "security/ir.model.access.csv",
        "security/ir_rules.xml",
        "data/ir_cron_data.xml",
        "wizards/ziqi_dingtalk_leave_type_refresh_views.xml",
        "views/ziqi_dingtalk_leave_type_views.xml",
        "views/ziqi_dingtalk_leave_views.xml",
        "views/hr_leave_views.xml",
        "views/menus.xml",
    ],
    "installable": True,
    "application": False,
}
