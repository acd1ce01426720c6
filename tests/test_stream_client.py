"""The protocol layer's Stream mode client (dingtalk.stream) against the sandbox's Stream gateway."""

import json
import queue
import time

import pytest
import requests

from dingtalk import errors
from dingtalk.client import DingTalkClient
from dingtalk.stream import LATER, SUCCESS, StreamAgent, StreamConnection, ack_frame, event_message

APP_KEY, APP_SECRET = "dingsandboxappkey0001", "sandbox-app-secret"

FRAME = {
    "specVersion": "1.0",
    "type": "EVENT",
    "headers": {
        "topic": "*",
        "messageId": "213d841d_972_1898bb26334_70a7",
        "contentType": "application/json",
        "time": "1683533823336",
        "eventType": "user_add_org",
        "eventId": "c7c7120f2c07419",
        "eventCorpId": "ding9f50b15b16741",
        "eventBornTime": "1683533823336",
        "eventUnifiedAppId": "bbb381b6-f01",
    },
    "data": '{"timeStamp":"1685501863357","userId":["015xxxx227"]}',
}


def test_an_event_frame_becomes_an_event_stored_like_an_http_push():
    message = event_message(FRAME)
    assert message.message_id == "213d841d_972_1898bb26334_70a7"
    event = message.event
    assert (event.type, event.event_id, event.corp_id, event.user_ids) == (
        "user_add_org",
        "c7c7120f2c07419",
        "ding9f50b15b16741",
        ("015xxxx227",),
    )
    assert event.raw == {
        "timeStamp": "1685501863357",
        "userId": ["015xxxx227"],
        "EventType": "user_add_org",
        "eventId": "c7c7120f2c07419",
        "CorpId": "ding9f50b15b16741",
        "EventTime": 1683533823336,
    }


@pytest.mark.parametrize("data", ["not json", "[1]", '{"userId": ["x"]}'])
def test_an_unreadable_frame_says_why(data):
    headers = {**FRAME["headers"], "eventType": "" if data.startswith("{") else "user_add_org"}
    message = event_message({**FRAME, "headers": headers, "data": data})
    assert message.event is None and message.problem


def test_the_acknowledgement_is_the_documented_shape():
    answer = json.loads(ack_frame("m1", {"status": SUCCESS, "message": "stored"}))
    assert answer == {
        "code": 200,
        "headers": {"messageId": "m1", "contentType": "application/json"},
        "message": "OK",
        "data": '{"status": "SUCCESS", "message": "stored"}',
    }


def control(url, path, payload=None):
    method = "POST" if payload is not None else "GET"
    response = requests.request(method, f"{url}/_sandbox/{path}", json=payload, timeout=10)
    response.raise_for_status()
    return response.json()


def wait(condition, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("timed out")


@pytest.fixture
def agent(sandbox):
    control(sandbox, "stream", {"event_delivery": "stream", "ack_timeout": 1, "disconnect_grace": 1})
    received = queue.Queue()
    client = DingTalkClient(APP_KEY, APP_SECRET, oapi_url=sandbox, api_url=sandbox)
    agent = StreamAgent("test", client.open_stream, lambda c, m: received.put((c, m)), heartbeat=0.5).start()
    agent.received = received
    yield agent
    agent.stop()


def live(url):
    return [c for c in control(url, "stream")["connections"] if c["state"] == "open"]


def test_wrong_credentials_are_a_credentials_error(sandbox):
    client = DingTalkClient(APP_KEY, "wrong", oapi_url=sandbox, api_url=sandbox)
    with pytest.raises(errors.CredentialsError):
        client.open_stream()


def test_an_event_later_then_success(sandbox, agent):
    wait(lambda: live(sandbox))
    (published,) = control(
        sandbox, "stream/publish", {"event": {"EventType": "user_add_org", "userId": ["u1"]}}
    )["events"]
    connection, message = agent.received.get(timeout=10)
    assert message.event.event_id == published["event_id"] and message.event.user_ids == ("u1",)
    assert connection.ack(message.message_id, LATER, "not now")
    connection, again = agent.received.get(timeout=10)  # redelivered at once
    assert again.message_id == message.message_id
    assert connection.ack(again.message_id, SUCCESS, "stored")
    event = wait(
        lambda: next(
            (e for e in control(sandbox, "stream/events")["events"] if e["state"] == "acked"),
            None,
        )
    )
    assert [d["ack"] for d in event["deliveries"]] == ["LATER", "SUCCESS"]


def test_a_silent_connection_is_replaced(sandbox, agent):
    (first,) = wait(lambda: live(sandbox))
    control(sandbox, "stream/drop", {"how": "silent"})
    replaced = wait(lambda: [c for c in live(sandbox) if c["id"] != first["id"]], timeout=15)
    assert replaced and agent.reconnects >= 1
    assert agent.last_end == "silent"


def test_a_disconnect_reconnects_at_once_and_the_old_connection_still_takes_acks(sandbox, agent):
    (first,) = wait(lambda: live(sandbox))
    control(sandbox, "stream/publish", {"event": {"EventType": "user_add_org", "userId": ["u1"]}})
    old, message = agent.received.get(timeout=10)  # not acknowledged yet
    started = time.monotonic()
    control(sandbox, "stream/drop", {"how": "disconnect"})
    wait(lambda: [c for c in live(sandbox) if c["id"] != first["id"]], timeout=5)
    assert time.monotonic() - started < 0.9, "no backoff (1 s at least) after DingTalk's disconnect"
    assert agent.last_end == "disconnect"
    assert old.ack(message.message_id, SUCCESS, "stored"), "kept open for DingTalk's grace"
    event = wait(lambda: control(sandbox, "stream/events")["events"][0]["state"] == "acked" and True)
    assert event


HOSTILE_TEXTS = [
    "not json",
    "[" * 100_000 + "]" * 100_000,  # deeper than Python's recursion limit
    '{"type": "EVENT", "headers": "not a dict"}',
    '{"type": "SYSTEM", "headers": ["ping"]}',
    json.dumps({**FRAME, "headers": {**FRAME["headers"], "eventBornTime": 1e400}}),  # Infinity
    json.dumps({**FRAME, "data": '{"timeStamp": Infinity, "userId": ["u"]}'}),
    json.dumps({**FRAME, "data": '{"userId": [NaN]}'}),
    json.dumps({**FRAME, "data": '{"userId": ["a\\u0000b"]}'}),
    json.dumps({**FRAME, "data": "[" * 100_000}),
    json.dumps({**FRAME, "data": 12}),
]


class _Socket:
    """What StreamConnection needs of a WebSocket to dispatch frames: a send that records them."""

    def __init__(self):
        self.sent = []

    def send(self, text):
        self.sent.append(text)


@pytest.mark.parametrize("text", HOSTILE_TEXTS, ids=range(len(HOSTILE_TEXTS)))
def test_no_frame_can_end_the_reader(text):
    """Whatever DingTalk (or a man in the middle) sends, the reader goes on: an EVENT it cannot read or
    store is handed over as unreadable (acknowledged, logged), anything else is skipped."""
    messages = []
    connection = StreamConnection(_Socket(), lambda c, m: messages.append(m))
    assert connection._dispatch(text) is False
    for message in messages:  # unreadable, or readable and storable as jsonb (strict JSON, no NUL)
        if message.event is not None:
            assert "\\u0000" not in json.dumps(message.event.raw, allow_nan=False)
        else:
            assert message.problem
