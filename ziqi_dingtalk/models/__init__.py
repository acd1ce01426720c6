# ruff: noqa: I001 - order matters: a model comes after the mixins it inherits
from . import res_company, res_config_settings, ziqi_dingtalk_token
from . import discuss_channel, hr_department, hr_employee, res_users, ziqi_dingtalk_role, res_groups
from . import ziqi_dingtalk_sync_apply, ziqi_dingtalk_sync_finalize, ziqi_dingtalk_sync_run
from . import ziqi_dingtalk_event_handlers, ziqi_dingtalk_event
from . import ziqi_dingtalk_alert, ziqi_dingtalk_message
