from . import dingtalk_stream, dingtalk_sync
