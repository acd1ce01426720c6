from . import (
    hr_leave,
    res_company,
    ziqi_dingtalk_event,
    ziqi_dingtalk_leave,
    ziqi_dingtalk_leave_importer,
    ziqi_dingtalk_leave_type,
)
