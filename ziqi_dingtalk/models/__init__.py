# ruff: noqa: I001 - order matters: the sync run inherits the step mixins defined before it
from . import res_company, res_config_settings, ziqi_dingtalk_token
from . import hr_department, hr_employee, res_users, ziqi_dingtalk_role
from . import ziqi_dingtalk_sync_apply, ziqi_dingtalk_sync_finalize, ziqi_dingtalk_sync_run
