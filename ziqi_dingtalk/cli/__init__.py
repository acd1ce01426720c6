from . import dingtalk_sync
