"""Contacts events (protocol §2): build, render in either payload dialect, push over HTTP signed and
encrypted (§1.5), and check the receiver's encrypted ``success`` answer."""

import json
import time
import urllib.error
import urllib.request
import uuid
from urllib.parse import urlencode

from .crypto import CallbackCrypto, CallbackCryptoError, random_alnum

_PAIRS = (("UserId", "userId"), ("DeptId", "deptId"), ("TimeStamp", "timeStamp"))
DEFAULT_CALLBACK = {
    "url": None,
    "token": None,
    "aes_key": None,
    "receiver_id": None,
    "auto_push": False,
    "dialect": "camel",
    "signature_param": "msg_signature",
    "timestamp_param": "timeStamp",
}
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: never via a proxy


def make_event(event_type, user_ids=None, dept_ids=None, **extra):
    """An event in the current-doc (camel) dialect, with a fresh eventId."""
    now = int(time.time() * 1000)
    event = {"EventType": event_type, "EventTime": now, "eventId": uuid.uuid4().hex, "timeStamp": str(now)}
    if user_ids is not None:
        event["userId"] = list(user_ids)
    if dept_ids is not None:
        event["deptId"] = [int(d) for d in dept_ids]
    event.update(extra)
    return event


def normalise(event):
    """Accept an event in either dialect; return it keyed like the camel dialect."""
    out = dict(event)
    for pascal, camel in _PAIRS:
        if pascal in out:
            value = out.pop(pascal)
            out.setdefault(camel, value)
    return out


def render(event, dialect, corp_id):
    """Plaintext payload in the ``pascal`` (observed) or ``camel`` (current docs) dialect."""
    ev = normalise(event)
    if ev.get("EventType") == "check_url":
        return {"EventType": "check_url"}
    now = int(time.time() * 1000)
    stamp = str(ev.pop("timeStamp", None) or now)
    ev.pop("CorpId", None)
    if dialect == "pascal":
        out = {"CorpId": corp_id, "EventType": ev.pop("EventType")}
        ev.pop("eventId", None)
        ev.pop("EventTime", None)
        for pascal, camel in _PAIRS[:2]:
            if camel in ev:
                out[pascal] = ev.pop(camel)
        out.update(ev)
        out["TimeStamp"] = stamp
        return out
    out = {
        "EventType": ev.pop("EventType"),
        "EventTime": int(ev.pop("EventTime", None) or stamp),
        "CorpId": corp_id,
    }
    out["eventId"] = ev.pop("eventId", None) or uuid.uuid4().hex
    out["timeStamp"] = stamp
    out.update(ev)
    return out


def push(
    callback,
    event,
    corp_id,
    url=None,
    dialect=None,
    signature_param=None,
    timestamp_param=None,
    tamper=None,
    timeout=10,
):
    """POST one event to the callback URL; returns {"status", "body", "success", "error", "payload"}."""
    cfg = dict(DEFAULT_CALLBACK, **(callback or {}))
    url = url or cfg["url"]
    if not url or not cfg["token"] or not cfg["aes_key"]:
        return {"status": None, "body": None, "success": False, "error": "no callback configured"}
    crypto = CallbackCrypto(cfg["token"], cfg["aes_key"], cfg["receiver_id"])
    payload = render(event, dialect or cfg["dialect"], corp_id)
    plaintext = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    timestamp, nonce = str(int(time.time() * 1000)), random_alnum(8)
    encrypt = crypto.encrypt(plaintext, receiver_id="wrong-receiver" if tamper == "receiver" else None)
    signature = crypto.signature(timestamp, nonce, encrypt)
    if tamper == "signature":
        signature = ("0" if signature[0] != "0" else "1") + signature[1:]
    elif tamper == "encrypt":
        encrypt = encrypt[:-8] + ("A" * 8 if encrypt[-8:] != "A" * 8 else "B" * 8)
    elif tamper == "timestamp":
        timestamp = str(int(timestamp) + 1)
    sig_names = (
        ("signature", "msg_signature")
        if (signature_param or cfg["signature_param"]) == "both"
        else (signature_param or cfg["signature_param"],)
    )
    query = {name: signature for name in sig_names}
    query.update({timestamp_param or cfg["timestamp_param"]: timestamp, "nonce": nonce})
    full_url = url + ("&" if "?" in url else "?") + urlencode(query)
    status, body, error = _post(full_url, json.dumps({"encrypt": encrypt}).encode(), timeout)
    result = {"status": status, "body": body, "payload": payload, "url": full_url}
    if error is None and status == 200:
        error = check_answer(crypto, body)
    elif error is None:
        error = "HTTP %s" % status
    result.update(success=error is None, error=error)
    return result


def check_answer(crypto, body):
    """None when ``body`` is DingTalk's expected encrypted ``success``, else the problem."""
    try:
        answer = json.loads(body)
        crypto.verify(answer["msg_signature"], answer["timeStamp"], answer["nonce"], answer["encrypt"])
        text = crypto.decrypt(answer["encrypt"])
    except (ValueError, KeyError, TypeError) as exc:
        return "answer is not the encrypted JSON: %s" % exc
    except CallbackCryptoError as exc:
        return "answer does not verify: %s" % exc
    return None if text == "success" else "answer decrypts to %r, not 'success'" % text[:50]


def _post(url, data, timeout):
    req = urllib.request.Request(url, data=data, method="POST", headers={"Content-Type": "application/json"})
    try:
        with _OPENER.open(req, timeout=timeout) as resp:
            return resp.status, resp.read().decode("utf-8", "replace"), None
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode("utf-8", "replace"), None
    except (urllib.error.URLError, OSError) as exc:
        return None, None, "cannot reach callback: %s" % exc
