# HTTP routes (/dingtalk/callback, /dingtalk/loginweb, /dingtalk/index.html) are added here
# by the event and login features; the foundation has none yet.
