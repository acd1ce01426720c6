{
    "name": "DingTalk Attendance (钉钉考勤)",
    "summary": "DingTalk punches (考勤打卡) become Odoo attendances, one per shift; missing punches become "
    "exceptions HR resolves",
    # no series: Odoo prefixes its own (18.0.1.0.0, 19.0.1.0.0), so one manifest installs on both
    "version": "1.1.0",  # pylint: disable=manifest-version-format
    "category": "Human Resources/Attendances",
    "author": "ziqi",
    "website": "https://github.com/ziqi/ziqi_dingtalk",
    "license": "LGPL-3",
    "depends": ["ziqi_dingtalk", "hr_attendance"],
    "data": [
        "security/ir.model.access.csv",
        "security/ir_rules.xml",
        "data/ir_cron_data.xml",
        "views/hr_attendance_views.xml",
        "views/ziqi_dingtalk_attendance_exception_views.xml",
        "views/ziqi_dingtalk_attendance_run_views.xml",
        "wizard/ziqi_dingtalk_attendance_backfill_views.xml",
        "views/res_config_settings_views.xml",
        "views/menus.xml",
    ],
    "installable": True,
    "application": False,
}
