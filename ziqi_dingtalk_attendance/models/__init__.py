from . import (
    hr_attendance,
    hr_employee,
    res_company,
    res_config_settings,
    resource_calendar,
    ziqi_dingtalk_attendance_exception,
    ziqi_dingtalk_attendance_importer,
    ziqi_dingtalk_attendance_run,
    ziqi_dingtalk_event,
)
