{
    "name": "DingTalk Integration (钉钉集成)",
    "summary": "Join a company's DingTalk to Odoo: directory sync, events, sign-in, alerts",
    # no series: Odoo prefixes its own (18.0.1.3.0, 19.0.1.3.0), so one manifest installs on both
    "version": "1.5.0",  # pylint: disable=manifest-version-format
    "category": "Human Resources",
    "author": "ziqi",
    "website": "https://github.com/ziqi/ziqi_dingtalk",
    "license": "LGPL-3",
    "depends": ["hr"],
    "external_dependencies": {"python": ["pycryptodome", "requests", "websocket-client"]},
    "data": [
        "security/ir.model.access.csv",
        "data/ir_cron_data.xml",
        "views/ziqi_dingtalk_sync_run_views.xml",
        "views/ziqi_dingtalk_role_views.xml",
        "views/ziqi_dingtalk_event_views.xml",
        "views/ziqi_dingtalk_message_views.xml",
        "views/hr_views.xml",
        "views/res_users_views.xml",
        "views/res_config_settings_views.xml",
        "views/menus.xml",
        "views/login_templates.xml",
    ],
    "assets": {
        "web.assets_tests": [
            "ziqi_dingtalk/static/tests/tours/*.js",
        ],
    },
    "installable": True,
    "uninstall_hook": "uninstall_hook",
    "application": False,
}
