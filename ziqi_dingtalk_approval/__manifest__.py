{
    "name": "DingTalk Approval (钉钉审批)",
    "summary": "Approve Odoo documents in DingTalk (OA审批): submit, follow each step in the chatter, apply "
    "the result",
    # no series: Odoo prefixes its own (18.0.1.0.0, 19.0.1.0.0), so one manifest installs on both
    "version": "1.0.0",  # pylint: disable=manifest-version-format
    "category": "Human Resources",
    "author": "ziqi",
    "website": "https://github.com/ziqi/ziqi_dingtalk",
    "license": "LGPL-3",
    "depends": ["ziqi_dingtalk", "mail"],
    "data": [
        "security/ir.model.access.csv",
        "security/ir_rules.xml",
        "data/ir_cron_data.xml",
        "views/ziqi_dingtalk_approval_template_views.xml",
        "views/ziqi_dingtalk_approval_rule_views.xml",
        "views/ziqi_dingtalk_approval_views.xml",
        "views/menus.xml",
    ],
    "assets": {
        "web.assets_tests": [
            "ziqi_dingtalk_approval/static/tests/tours/*.js",
        ],
    },
    "installable": True,
    "application": False,
}
