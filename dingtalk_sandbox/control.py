"""The ``/_sandbox`` control API (docs/design.md, section "Sandbox"): JSON in, JSON out, no token."""

import json
import secrets
import string
import time

from werkzeug.wrappers import Response

from . import attendance_control, delivery, events, mutate, workflow_control
from .crypto import CallbackCrypto, CallbackCryptoError
from .generate import generate
from .org import Org

_ALNUM = string.ascii_letters + string.digits


def _json(body, status=200):
    data = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
    return Response(data, status=status, content_type="application/json;charset=utf-8")


def dispatch(sb, request, path):
    route = ROUTES.get((request.method, path))
    if route is None:
        return _json({"ok": False, "error": "unknown control call %s %s" % (request.method, path)}, 404)
    try:
        body = json.loads(request.get_data() or b"{}") if request.method == "POST" else dict(request.args)
    except ValueError:
        return _json({"ok": False, "error": "body is not JSON"}, 400)
    try:
        result = route(sb, body)
    except (mutate.MutationError, ValueError, KeyError, TypeError, CallbackCryptoError) as exc:
        return _json({"ok": False, "error": str(exc)}, 400)
    return result if isinstance(result, Response) else _json(result)


def get_org(sb, body):
    with sb.lock:
        data = sb.org.to_json()
    if body.get("summary"):
        return {"ok": True, "counts": sb.org.counts(), "corp_id": data["corp_id"], "app": data["app"]}
    return data


def reset(sb, body):
    if body.get("org"):
        org = Org.from_json(body["org"])
    else:
        org = generate(
            users=int(body.get("users", 100)),
            departments=int(body.get("departments", 10)),
            roles=int(body.get("roles", 12)),
            seed=int(body.get("seed", 0)),
            leavers=int(body.get("leavers", 0)),
            out_of_scope=int(body.get("out_of_scope", 0)),
        )
    given = body.get("org") or {}
    with sb.lock:
        if not given.get("app"):
            org.app = dict(sb.org.app)
        if not given.get("corp_id"):
            org.corp_id = sb.org.corp_id
        sb.org = org
        sb.messages.clear()
        sb.pushes.clear()
        sb.redelivery.reset()
        sb.workflow.reset()  # approval instances forgotten, templates back to the defaults
    sb.stream.reset()  # Stream events, deliveries and stats (config and live connections stay)
    sb.stats.reset()
    sb.faults.clear()
    sb.limiter.reset()
    return {"ok": True, "counts": org.counts()}


def mutate_org(sb, body):
    with sb.lock:
        produced = mutate.apply(sb.org, body)
    out = {"ok": True, "event": produced[0] if produced else None, "events": produced}
    out.update(delivery.deliver(sb, produced))
    return out


def _push(sb, callback, event, corp_id, retry=False, **options):
    """Push once (recorded in sb.pushes); with ``retry``, a failure is retried and parked (failed.py)."""
    return sb.redelivery.deliver(callback, event, corp_id, retry=retry, **options)


def scope(sb, body):
    """GET: the app's contacts scope; POST ``{"authed_dept": [...], "authed_user": [...]}`` replaces it
    (``{"all": true}``: the whole organisation). No event: DingTalk documents a scope-change push
    (change_auth) for third-party apps only [KB:EV/0248-address-book-authorization-scope-change-event]."""
    with sb.lock:
        if body.get("all"):
            sb.org.set_scope([1], [])
        elif "authed_dept" in body or "authed_user" in body:
            sb.org.set_scope(body.get("authed_dept") or [], [str(u) for u in body.get("authed_user") or []])
        return {"ok": True, "scope": sb.org.scope()}


def outsiders(sb, body):
    """GET: the DingTalk accounts outside the organisation; POST ``{"name", "unionid"?, "mobile"?, "email"?,
    "avatar"?}`` adds one, who can then scan the login page (``?unionid=`` or ``login_as``) and whom
    ``user/getbyunionid`` does not know (60121) [KB:API/0019, KB:API/0064]. No event: nobody joined."""
    with sb.lock:
        if body:
            vals = dict(body)
            vals.setdefault("unionid", "".join(secrets.choice(_ALNUM) for _ in range(24)) + "iE")
            return {"ok": True, "outsider": sb.org.add_outsider(vals)}
        return {"outsiders": list(sb.org.outsiders.values())}


def expire_tokens(sb, body):
    with sb.lock:
        sb.tokens.expire_all()
    return {"ok": True}


def stats(sb, body):
    return sb.stats.snapshot()


def stats_reset(sb, body):
    sb.stats.reset()
    return {"ok": True}


def add_fault(sb, body):
    if not body.get("path"):
        raise ValueError("path is required")
    if not any(k in body for k in ("errcode", "code", "body", "http_status")):
        raise ValueError("one of errcode, code (+http_status), body is required")
    rule = sb.faults.add(body)
    return {"ok": True, "fault": rule}


def list_faults(sb, body):
    return {"faults": sb.faults.describe()}


def clear_faults(sb, body):
    sb.faults.clear()
    return {"ok": True}


def config(sb, body):
    body = body if isinstance(body, dict) else {}
    if "latency_ms" in body:
        sb.latency_ms = float(body["latency_ms"] or 0)
    if "qps" in body:
        sb.limiter.qps = int(body["qps"] or 0)
    if "token_ttl" in body:
        sb.tokens.ttl = float(body["token_ttl"])
    if "login_as" in body:
        sb.login_as = body["login_as"] or None
    pushes_cfg = sb.redelivery.configure(body)  # retry schedule, failed list (failed.py)
    return {
        "ok": True,
        "latency_ms": sb.latency_ms,
        "qps": sb.limiter.qps,
        "token_ttl": sb.tokens.ttl,
        "login_as": sb.login_as,
        **pushes_cfg,
    }


def callback(sb, body):
    with sb.lock:
        cfg = dict(events.DEFAULT_CALLBACK, **(sb.callback or {}))
        cfg.update({k: v for k, v in body.items() if k in events.DEFAULT_CALLBACK})
        cfg["receiver_id"] = cfg["receiver_id"] or sb.org.app["app_key"]
        if cfg["aes_key"]:
            CallbackCrypto(cfg["token"], cfg["aes_key"], cfg["receiver_id"])  # raises on a bad key
        sb.callback = cfg
    return {"ok": True, "callback": {k: v for k, v in cfg.items() if k not in ("token", "aes_key")}}


def push_event(sb, body):
    with sb.lock:
        cfg = dict(sb.callback or {})
        corp_id = sb.org.corp_id
        cfg["receiver_id"] = cfg.get("receiver_id") or sb.org.app["app_key"]
    for key in ("token", "aes_key", "receiver_id"):
        if body.get(key):
            cfg[key] = body[key]
    options = {k: body.get(k) for k in ("url", "dialect", "signature_param", "timestamp_param", "tamper")}
    event = body.get("event") or {"EventType": "check_url"}
    retry = bool(body.get("retry")) and not options["tamper"]  # DingTalk retries its own pushes only
    return _push(sb, cfg, event, corp_id, retry=retry, **options)


def failed(sb, body):
    return sb.redelivery.describe()


def park_failed(sb, body):
    """Park an event as DingTalk does once its pushes failed: rendered like a push, then kept for
    get_call_back_failed_result."""
    with sb.lock:
        corp_id = sb.org.corp_id
        dialect = (sb.callback or {}).get("dialect") or "camel"
    event = body.get("event")
    if not isinstance(event, dict) or not event.get("EventType"):
        raise ValueError("event with an EventType is required")
    payload = events.render(event, body.get("dialect") or dialect, corp_id)
    return {"ok": True, "entry": sb.redelivery.park(payload, corp_id)}


def pushes(sb, body):
    with sb.lock:
        return {"pushes": list(sb.pushes)}


def messages(sb, body):
    with sb.lock:
        return {"messages": list(sb.messages)}


def auth_code(sb, body):
    userid = str(body.get("userid") or "")
    with sb.lock:
        if sb.org.active_user(userid) is None:
            raise ValueError("no such user %r" % userid)
        code = sb.tokens.new_code()
        sb.tokens.inapp_codes[code] = {"userid": userid, "expires": time.time() + 300}
    return {"ok": True, "code": code}


# ----- Stream mode (stream.py) -------------------------------------------------------------------
def stream_config(sb, body):
    """POST: any of event_delivery, ack_timeout, ping_interval, ticket_ttl, disconnect_grace, max_attempts."""
    return {"ok": True, "config": sb.stream.configure(body if isinstance(body, dict) else {})}


def stream_state(sb, body):
    return sb.stream.describe()


def stream_events(sb, body):
    return {"events": sb.stream.events_json(state=body.get("state"), event_id=body.get("event_id"))}


def stream_acks(sb, body):
    return {"ack_ms": sb.stream.acks_json()}


def stream_publish(sb, body):
    """``{"event": {...}}`` or ``{"events": [...]}`` (camel dialect) → queued for Stream delivery."""
    batch = body.get("events") if "events" in body else [body.get("event")]
    if not isinstance(batch, list) or not batch:
        raise ValueError("event or events is required")
    with sb.lock:
        corp_id, app_key = sb.org.corp_id, sb.org.app["app_key"]
    return {"ok": True, "events": sb.stream.publish(batch, app_key, corp_id)}


def stream_drop(sb, body):
    return {"ok": True, "dropped": sb.stream.drop(body.get("how"), body.get("connection"))}


ROUTES = {
    ("GET", "/_sandbox/org"): get_org,
    ("POST", "/_sandbox/reset"): reset,
    ("POST", "/_sandbox/mutate"): mutate_org,
    ("GET", "/_sandbox/scope"): lambda sb, body: scope(sb, {}),
    ("POST", "/_sandbox/scope"): scope,
    ("GET", "/_sandbox/outsiders"): outsiders,
    ("POST", "/_sandbox/outsiders"): outsiders,
    ("POST", "/_sandbox/expire_tokens"): expire_tokens,
    ("GET", "/_sandbox/stats"): stats,
    ("POST", "/_sandbox/stats/reset"): stats_reset,
    ("POST", "/_sandbox/faults"): add_fault,
    ("GET", "/_sandbox/faults"): list_faults,
    ("POST", "/_sandbox/faults/clear"): clear_faults,
    ("POST", "/_sandbox/config"): config,
    ("GET", "/_sandbox/config"): lambda sb, body: config(sb, {}),
    ("POST", "/_sandbox/callback"): callback,
    ("POST", "/_sandbox/push_event"): push_event,
    ("GET", "/_sandbox/pushes"): pushes,
    ("GET", "/_sandbox/failed"): failed,
    ("POST", "/_sandbox/failed"): park_failed,
    ("GET", "/_sandbox/messages"): messages,
    ("POST", "/_sandbox/auth_code"): auth_code,
    ("POST", "/_sandbox/stream"): stream_config,
    ("GET", "/_sandbox/stream"): stream_state,
    ("GET", "/_sandbox/stream/events"): stream_events,
    ("GET", "/_sandbox/stream/acks"): stream_acks,
    ("POST", "/_sandbox/stream/publish"): stream_publish,
    ("POST", "/_sandbox/stream/drop"): stream_drop,
    **workflow_control.ROUTES,
    **attendance_control.ROUTES,
}
