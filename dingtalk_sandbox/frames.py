"""Stream-mode frames, built and parsed exactly as DingTalk's protocol write-up shows them.

[PEDIA] = open-dingtalk/developerpedia ``docs/learn/stream/protocol.md`` (协议描述), sections
通用字段说明, 事件推送 and 系统推送. Every frame is one WebSocket text message holding a JSON object; its
``data`` is itself a JSON *string*. Pure functions, no state: the gateway (stream.py) decides what to send
and when.
"""

import json
import os
import secrets
import time
import uuid

from . import events

SPEC_VERSION = "1.0"
CONTENT_TYPE = "application/json"  # "目前只支持application/json" [PEDIA]
EVENT_TOPIC = "*"  # EVENT subscriptions: "仅支持星号(*)" [PEDIA 消息类型]
# the event's own envelope, carried by the headers (eventType, eventBornTime, eventCorpId, eventId) and so
# left out of ``data`` ([PEDIA] 事件推送 sample: data is {"timeStamp", "userId"})
ENVELOPE = ("EventType", "EventTime", "CorpId", "eventId")
_NODE = os.getpid() & 0xFFF


def _dumps(value):
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def now_ms():
    return int(time.time() * 1000)


def message_id(seq):
    """A push's messageId, shaped like [PEDIA]'s samples (``213d841d_972_1898bb26334_70a7``: random hex,
    node, send time in ms, sequence; all hex). Unique per push; a redelivery keeps its message's id."""
    return "%s_%x_%x_%x" % (secrets.token_hex(4), _NODE, now_ms(), seq)


def unified_app_id(app_key):
    """``eventUnifiedAppId``: a uuid standing for the app (DingTalk's 统一应用身份Id), stable per app key."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "dingtalk-sandbox:app:" + app_key))


# ----- server -> client --------------------------------------------------------------------------
def event_parts(event, corp_id, app_key, msg_id):
    """``(headers, data string)`` of an EVENT push of a sandbox event (camel dialect, pascal
    keys accepted, see events.normalise). Invariant: ``data`` is the event minus ENVELOPE; a ``timeStamp``
    (string) is added when missing, as every [PEDIA] and HTTP-push sample carries one."""
    ev = events.normalise(event)
    born = int(ev.get("EventTime") or now_ms())
    headers = {
        "topic": EVENT_TOPIC,
        "messageId": msg_id,
        "contentType": CONTENT_TYPE,
        "time": None,  # each push's own send time, set by event_frame
        "eventType": str(ev["EventType"]),
        "eventId": str(ev["eventId"]),
        "eventCorpId": corp_id,
        "eventBornTime": str(born),
        "eventUnifiedAppId": unified_app_id(app_key),
    }
    data = {k: v for k, v in ev.items() if k not in ENVELOPE}
    data.setdefault("timeStamp", str(born))
    return headers, _dumps(data)


def event_frame(headers, data, sent_ms):
    """The EVENT frame text: [PEDIA] 通用字段说明 sample, ``time`` = this push's send time (ms, string)."""
    frame = {"specVersion": SPEC_VERSION, "type": "EVENT", "headers": dict(headers, time=str(sent_ms))}
    frame["data"] = data
    return _dumps(frame)


def system_frame(topic, msg_id, data, sent_ms):
    """A SYSTEM frame (``ping`` / ``disconnect``, [PEDIA] 系统推送)."""
    headers = {"topic": topic, "messageId": msg_id, "contentType": CONTENT_TYPE, "time": str(sent_ms)}
    return _dumps({"specVersion": SPEC_VERSION, "type": "SYSTEM", "headers": headers, "data": _dumps(data)})


def ping_frame(msg_id, opaque, sent_ms):
    """SYSTEM ``ping``: data holds only ``opaque`` ("data 中唯一包含的字段是 opaque", [PEDIA])."""
    return system_frame("ping", msg_id, {"opaque": opaque}, sent_ms)


def disconnect_frame(msg_id, sent_ms, reason="connection is expired"):
    """SYSTEM ``disconnect``: data holds only ``reason`` ([PEDIA] disconnect 请求处理 sample)."""
    return system_frame("disconnect", msg_id, {"reason": reason}, sent_ms)


# ----- client -> server --------------------------------------------------------------------------
def parse_ack(text):
    """``(messageId, code, data)`` of a client's response frame ([PEDIA] 客户端响应: ``code``, ``headers.
    messageId``, ``message``, ``data`` a JSON string). ``data`` is the decoded object, or None when absent
    or not JSON. Raises ValueError when the frame is no response at all."""
    frame = json.loads(text)
    if not isinstance(frame, dict) or not isinstance(frame.get("headers"), dict):
        raise ValueError("not a response frame")
    msg_id = frame["headers"].get("messageId")
    if not msg_id or "code" not in frame:
        raise ValueError("a response needs code and headers.messageId")
    try:
        code = int(frame["code"])
    except (TypeError, ValueError) as exc:
        raise ValueError("code is not a number") from exc
    data = frame.get("data")
    if isinstance(data, str):
        try:
            data = json.loads(data)
        except ValueError:
            data = None
    return str(msg_id), code, data if isinstance(data, dict) else None


def event_outcome(code, data):
    """What an ack says about an EVENT push ([PEDIA] 事件推送: data "必须包含 status 和 message",
    SUCCESS 消费成功 / LATER 消费失败): ``"SUCCESS"``, ``"LATER"``, another status as sent, the code (a
    string) when it is not 200, or ``"without_status"``: code 200 and no status, which is what the official
    Python SDK (dingtalk-stream 0.24.3, EventHandler.raw_process) sends, echoing the event's data."""
    if code != 200:
        return str(code)
    status = data.get("status") if data else None
    return "without_status" if status is None else str(status)
