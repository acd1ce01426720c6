from . import ziqi_dingtalk_attendance_backfill
