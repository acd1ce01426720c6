from . import (
    ziqi_dingtalk_approval,
    ziqi_dingtalk_approval_actions,
    ziqi_dingtalk_approval_mixin,
    ziqi_dingtalk_approval_rule,
    ziqi_dingtalk_approval_rule_field,
    ziqi_dingtalk_approval_template,
    ziqi_dingtalk_event,
)
