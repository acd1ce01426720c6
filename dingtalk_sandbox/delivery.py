"""How the sandbox sends the events it produces (contacts mutations, approvals): one way per app, as
DingTalk does — over Stream when the Stream config says ``event_delivery == "stream"`` (stream.py), else an
HTTP push to the callback when it has ``auto_push``, retried and parked when it fails (failed.py)."""


def deliver(sb, produced):
    """Send ``produced`` (camel-dialect events); ``{"stream": [...]}``, ``{"push": [...]}`` or ``{}``.
    Call without holding ``sb.lock``: a push waits for the receiver's answer."""
    with sb.lock:
        callback = dict(sb.callback) if sb.callback else None
        corp_id, app_key = sb.org.corp_id, sb.org.app["app_key"]
    if sb.stream.config["event_delivery"] == "stream":
        # Stream mode replaces the HTTP push: DingTalk pushes an app's events one way (stream.py)
        return {"stream": sb.stream.publish(produced, app_key, corp_id)}
    if callback and callback.get("auto_push"):
        # DingTalk's own pushes: a failed one is retried, then parked (failed.py)
        return {"push": [sb.redelivery.deliver(callback, ev, corp_id, retry=True) for ev in produced]}
    return {}
