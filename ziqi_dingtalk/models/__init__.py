# ruff: noqa: I001 - order matters: a model comes after the mixins it inherits
from . import res_company, res_config_settings, ziqi_dingtalk_token
from . import discuss_channel, hr_department, hr_employee, res_users, ziqi_dingtalk_role, res_groups
from . import ziqi_dingtalk_importer, ziqi_dingtalk_sync_run, ziqi_dingtalk_sync_item, ziqi_dingtalk_sync_log
from . import ziqi_dingtalk_event, ziqi_dingtalk_callback
from . import ziqi_dingtalk_alert, ziqi_dingtalk_message
from . import ziqi_dingtalk_stream
