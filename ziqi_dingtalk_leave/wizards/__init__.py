from . import ziqi_dingtalk_leave_type_refresh
