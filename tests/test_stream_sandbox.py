"""The sandbox's Stream mode gateway (dingtalk_sandbox/stream.py) against DingTalk's protocol write-up
([PEDIA] = open-dingtalk/developerpedia docs/learn/stream/protocol.md) and the official Python SDK.

Each test runs ``python -m dingtalk_sandbox`` (conftest's ``sandbox`` fixture) and talks to it as a Stream
client would: ``websocket-client`` for hand-made frames, ``dingtalk-stream`` 0.24.3 for the SDK's own.
Timeouts are shortened through ``POST /_sandbox/stream``.
"""

import asyncio
import contextlib
import json
import logging
import queue
import re
import threading
import time
import uuid

import pytest
import requests
import websocket

APP_KEY, APP_SECRET, CORP_ID = "dingsandboxappkey0001", "sandbox-app-secret", "dingsandboxcorp0001"
OPEN = "/v1.0/gateway/connections/open"
EVENT_SUB = [{"type": "EVENT", "topic": "*"}]


def ctl(url, path, body=None):
    if body is None:
        return requests.get(f"{url}/_sandbox/{path}", timeout=10).json()
    return requests.post(f"{url}/_sandbox/{path}", json=body, timeout=10).json()


def open_connection(url, **overrides):
    body = {"clientId": APP_KEY, "clientSecret": APP_SECRET, "subscriptions": EVENT_SUB}
    body.update(ua="pytest/1.0", localIp="10.0.0.7")
    body.update(overrides)
    return requests.post(url + OPEN, json=body, timeout=10)


def wait_for(check, timeout=5.0):
    """Poll ``check()`` until it answers something true; that answer (fails after ``timeout``)."""
    deadline = time.monotonic() + timeout
    while True:
        answer = check()
        if answer or time.monotonic() > deadline:
            assert answer, "condition not met in %.1f s" % timeout
            return answer
        time.sleep(0.02)


def stream_state(url):
    return ctl(url, "stream")


def events(url, **query):
    return requests.get(f"{url}/_sandbox/stream/events", params=query, timeout=10).json()["events"]


def publish(url, *evs):
    return ctl(url, "stream/publish", {"events": list(evs)})["events"]


def user_event(userid="u1", **extra):
    now = int(time.time() * 1000)
    event = {
        "EventType": "user_add_org",
        "EventTime": now,
        "eventId": uuid.uuid4().hex,
        "timeStamp": str(now),
    }
    return dict(event, userId=[userid], **extra)


class Client:
    """A hand-made Stream client: one ticket, one WebSocket (websocket-client)."""

    def __init__(self, url, subscriptions=EVENT_SUB):
        answer = open_connection(url, subscriptions=subscriptions).json()
        self.ws = websocket.create_connection(answer["endpoint"] + "?ticket=" + answer["ticket"], timeout=5)
        self.id = stream_state(url)["connections"][-1]["id"]

    def frame(self, timeout=5.0, pings=False):
        """The next Stream frame (SYSTEM pings skipped unless ``pings``)."""
        self.ws.settimeout(timeout)
        while True:
            frame = json.loads(self.ws.recv())
            if pings or frame["headers"].get("topic") != "ping":
                return frame

    def nothing(self, wait=0.4):
        """True when no Stream frame (pings aside) arrives within ``wait`` seconds."""
        try:
            self.frame(timeout=wait)
        except websocket.WebSocketTimeoutException:
            return True
        return False

    def ack(self, frame, status="SUCCESS", code=200, data=None):
        if data is None:
            data = {"status": status, "message": "ok"}
        headers = {"messageId": frame["headers"]["messageId"], "contentType": "application/json"}
        body = {"code": code, "headers": headers, "message": "OK", "data": json.dumps(data)}
        self.ws.send(json.dumps(body))

    def close(self):
        self.ws.shutdown()


@pytest.fixture
def clients():
    made = []

    def connect(url, subscriptions=EVENT_SUB):
        made.append(Client(url, subscriptions))
        return made[-1]

    yield connect
    for client in made:
        client.close()


# ----- opening a connection ([PEDIA] 步骤一) --------------------------------------------------------
def test_open_refuses_bad_credentials_and_subscriptions(sandbox):
    bad = open_connection(sandbox, clientSecret="wrong")
    assert bad.status_code == 400
    assert bad.json()["code"] == "invalidClientIdOrSecret"
    assert bad.json()["message"] == "无效的clientId或者clientSecret" and bad.json()["requestid"]
    assert open_connection(sandbox, clientId="someone").json()["code"] == "invalidClientIdOrSecret"
    for subscriptions in (
        None,
        [],
        [{"type": "EVENT", "topic": "user_add_org"}],
        [{"type": "X", "topic": "*"}],
    ):
        refused = open_connection(sandbox, subscriptions=subscriptions)
        assert (refused.status_code, refused.json()["code"]) == (400, "InvalidParameter"), subscriptions
    good = open_connection(sandbox, subscriptions=[*EVENT_SUB, {"type": "CALLBACK", "topic": "/v1.0/im/bot"}])
    assert good.status_code == 200
    assert set(good.json()) == {"endpoint", "ticket"}
    assert re.fullmatch(r"ws://127\.0\.0\.1:\d+/connect", good.json()["endpoint"])
    assert good.json()["endpoint"] != sandbox.replace("http", "ws") + "/connect"  # a host of its own
    assert uuid.UUID(good.json()["ticket"]).version == 4
    assert ctl(sandbox, "stats")["calls"][OPEN] == 7  # counted like every other API call
    assert stream_state(sandbox)["stats"]["tickets"] == 1


def test_ticket_is_single_use_and_expires(sandbox, clients):
    answer = open_connection(sandbox).json()
    endpoint, ticket = answer["endpoint"], answer["ticket"]
    plain = requests.get(endpoint.replace("ws://", "http://") + "?ticket=" + ticket, timeout=5)
    assert plain.status_code == 400  # not a WebSocket handshake: refused, the ticket not spent
    ws = websocket.create_connection(endpoint + "?ticket=" + ticket, timeout=5)
    try:
        for used in (ticket, "no-such-ticket"):
            with pytest.raises(websocket.WebSocketBadStatusException) as refused:
                websocket.create_connection(endpoint + "?ticket=" + used, timeout=5)
            assert refused.value.status_code == 401
        ctl(sandbox, "stream", {"ticket_ttl": 0.2})
        late = open_connection(sandbox).json()["ticket"]
        time.sleep(0.4)
        with pytest.raises(websocket.WebSocketBadStatusException) as expired:
            websocket.create_connection(endpoint + "?ticket=" + late, timeout=5)
        assert expired.value.status_code == 401
        state = stream_state(sandbox)
        assert state["stats"]["refused"] == 3 and state["stats"]["opened"] == 1
        (conn,) = state["connections"]
        assert (conn["app_key"], conn["ua"], conn["local_ip"], conn["state"]) == (
            APP_KEY,
            "pytest/1.0",
            "10.0.0.7",
            "open",
        )
        assert conn["subscriptions"] == EVENT_SUB and conn["opened_at"] > 0
    finally:
        ws.close()


# ----- EVENT pushes and acks ([PEDIA] 通用字段说明, 事件推送) ---------------------------------------
def test_event_frame_is_the_documented_shape(sandbox, clients):
    callbacks_only = clients(sandbox, [{"type": "CALLBACK", "topic": "/v1.0/im/bot/messages/get"}])
    event = user_event("u007", OptStaffId="boss")
    (published,) = publish(sandbox, event)
    assert published["event_id"] == event["eventId"]
    assert callbacks_only.nothing(0.3)  # no EVENT subscription: no event, it waits
    assert stream_state(sandbox)["pending"] == 1
    client = clients(sandbox)  # the first EVENT connection gets what waited
    frame = client.frame()
    assert list(frame) == ["specVersion", "type", "headers", "data"]
    assert (frame["specVersion"], frame["type"]) == ("1.0", "EVENT")
    headers = frame["headers"]
    assert list(headers) == [
        "topic",
        "messageId",
        "contentType",
        "time",
        "eventType",
        "eventId",
        "eventCorpId",
        "eventBornTime",
        "eventUnifiedAppId",
    ]
    assert headers["topic"] == "*" and headers["contentType"] == "application/json"
    assert headers["messageId"] == published["message_id"]
    assert (headers["eventType"], headers["eventId"], headers["eventCorpId"]) == (
        "user_add_org",
        event["eventId"],
        CORP_ID,
    )
    assert headers["eventBornTime"] == str(event["EventTime"]) and headers["time"].isdigit()
    assert uuid.UUID(headers["eventUnifiedAppId"])
    assert isinstance(frame["data"], str)
    assert json.loads(frame["data"]) == {
        "timeStamp": event["timeStamp"],
        "userId": ["u007"],
        "OptStaffId": "boss",
    }
    (defaulted,) = publish(sandbox, {"EventType": "org_dept_create", "deptId": [5]})
    frame = client.frame()
    assert frame["headers"]["eventId"] == defaulted["event_id"] and re.fullmatch(
        r"[0-9a-f]{32}", defaulted["event_id"]
    )
    assert json.loads(frame["data"])["deptId"] == [5]


def test_success_is_consumed(sandbox, clients):
    ctl(sandbox, "stream", {"ack_timeout": 0.3})
    client = clients(sandbox)
    publish(sandbox, user_event())
    client.ack(client.frame())
    (record,) = wait_for(lambda: events(sandbox, state="acked"))
    assert record["attempts"] == 1 and record["deliveries"][0]["ack"] == "SUCCESS"
    assert record["deliveries"][0]["connection"] == client.id
    assert isinstance(record["deliveries"][0]["ack_ms"], float)
    assert client.nothing(0.6)  # never pushed again
    state = stream_state(sandbox)
    assert state["stats"]["success"] == 1 and state["stats"]["redelivered"] == 0
    assert state["connections"][0]["acks"] == 1 and state["connections"][0]["frames_sent"] == 1
    assert ctl(sandbox, "stream/acks")["ack_ms"] == [record["deliveries"][0]["ack_ms"]]


def test_later_and_error_codes_are_redelivered_at_once(sandbox, clients):
    ctl(sandbox, "stream", {"ack_timeout": 30})
    client = clients(sandbox)
    publish(sandbox, user_event())
    first = client.frame()
    client.ack(first, status="LATER")
    again = client.frame(timeout=1)
    client.ack(again, code=500, data={"response": "internal error"})
    third = client.frame(timeout=1)
    for frame in (again, third):
        assert frame["headers"]["messageId"] == first["headers"]["messageId"]
        assert frame["headers"]["eventId"] == first["headers"]["eventId"] and frame["data"] == first["data"]
    client.ack(third)
    (record,) = wait_for(lambda: events(sandbox, state="acked"))
    assert [d["ack"] for d in record["deliveries"]] == ["LATER", "500", "SUCCESS"]
    stats = stream_state(sandbox)["stats"]
    assert (stats["later"], stats["error_acks"], stats["redelivered"], stats["success"]) == (1, 1, 2, 1)


def test_no_ack_is_redelivered_after_ack_timeout_then_given_up(sandbox, clients):
    ctl(sandbox, "stream", {"ack_timeout": 0.4})
    client = clients(sandbox)
    publish(sandbox, user_event())
    first = client.frame()
    started = time.monotonic()
    again = client.frame(timeout=3)
    assert time.monotonic() - started >= 0.3
    assert again["headers"]["messageId"] == first["headers"]["messageId"]
    assert again["headers"]["eventId"] == first["headers"]["eventId"]
    client.ack(again)
    (record,) = wait_for(lambda: events(sandbox, state="acked"))
    assert [d["ack"] for d in record["deliveries"]] == ["none", "SUCCESS"]
    assert stream_state(sandbox)["stats"]["timeouts"] == 1
    ctl(sandbox, "stream", {"ack_timeout": 0.1, "max_attempts": 3})
    (lost,) = publish(sandbox, user_event("u2"))
    (record,) = wait_for(lambda: events(sandbox, state="given_up"))
    assert record["event_id"] == lost["event_id"] and record["attempts"] == 3
    assert stream_state(sandbox)["stats"]["given_up"] == 1


def acking_threads(clients, seen=lambda client, frame: None):
    """One started thread per client that acknowledges each frame it reads (after ``seen(client, frame)``)
    until none has come for 1 s."""

    def consume(client):
        while True:
            try:
                frame = client.frame(timeout=1)
            except websocket.WebSocketTimeoutException:
                return
            seen(client, frame)
            client.ack(frame)

    threads = [threading.Thread(target=consume, args=(client,)) for client in clients]
    for thread in threads:
        thread.start()
    return threads


def test_two_connections_get_events_at_random(sandbox, clients):
    pair = [clients(sandbox), clients(sandbox)]
    got = {client.id: [] for client in pair}
    threads = acking_threads(pair, lambda client, frame: got[client.id].append(frame["headers"]["eventId"]))
    sent = publish(sandbox, *[user_event("u%d" % n) for n in range(40)])
    for thread in threads:
        thread.join(10)
    assert all(got.values()), got  # [PEDIA] FAQ: a random connection for every push
    assert sorted(got[pair[0].id] + got[pair[1].id]) == sorted(e["event_id"] for e in sent)
    assert stream_state(sandbox)["stats"]["success"] == 40


# ----- SYSTEM pushes and drops ([PEDIA] 系统推送) --------------------------------------------------
def test_system_ping_every_ping_interval_and_answers_recorded(sandbox, clients):
    ctl(sandbox, "stream", {"ping_interval": 0.2})
    client = clients(sandbox)
    ping = client.frame(pings=True)
    assert (ping["specVersion"], ping["type"]) == ("1.0", "SYSTEM")
    assert set(ping["headers"]) == {"topic", "messageId", "contentType", "time"}
    assert ping["headers"]["topic"] == "ping"
    opaque = json.loads(ping["data"])
    assert list(opaque) == ["opaque"]
    started = time.monotonic()
    client.ack(ping, data=opaque)  # [PEDIA]: code 200, echoing the opaque
    wrong = client.frame(pings=True)
    assert 0.1 <= time.monotonic() - started < 1.0
    client.ack(wrong, data={"opaque": "something else"})
    time.sleep(0.1)
    conn = stream_state(sandbox)["connections"][0]
    assert conn["pings_answered"] == 1 and conn["pings_sent"] >= 2


def test_websocket_pings_are_answered(sandbox, clients):
    client = clients(sandbox)
    client.ws.ping(b"are you there")
    opcode, frame = client.ws.recv_data_frame(True)
    assert opcode == websocket.ABNF.OPCODE_PONG and frame.data == b"are you there"


def test_drop_close_is_abrupt_and_redelivers_elsewhere(sandbox, clients):
    ctl(sandbox, "stream", {"ack_timeout": 30})
    client = clients(sandbox)
    publish(sandbox, user_event())
    first = client.frame()
    assert ctl(sandbox, "stream/drop", {"how": "close"})["dropped"] == [client.id]
    with pytest.raises(websocket.WebSocketConnectionClosedException):
        client.ws.recv()  # no close frame: the TCP connection just ends
    conn = stream_state(sandbox)["connections"][0]
    assert conn["state"] == "closed" and conn["close_reason"] == "dropped: close"
    assert stream_state(sandbox)["pending"] == 1  # the socket is gone: out again at once, when one connects
    other = clients(sandbox)
    again = other.frame(timeout=2)
    assert again["headers"]["messageId"] == first["headers"]["messageId"]
    other.ack(again)
    (record,) = wait_for(lambda: events(sandbox, state="acked"))
    assert [d["connection"] for d in record["deliveries"]] == [client.id, other.id]
    assert [d["ack"] for d in record["deliveries"]] == ["none", "SUCCESS"]


def test_drop_disconnect_then_silence_then_tcp_close(sandbox, clients):
    ctl(sandbox, "stream", {"ack_timeout": 30, "disconnect_grace": 0.6, "ping_interval": 0.1})
    client = clients(sandbox)
    publish(sandbox, user_event())
    event = client.frame()
    assert ctl(sandbox, "stream/drop", {"how": "disconnect"})["dropped"] == [client.id]
    notice = client.frame()
    assert notice["type"] == "SYSTEM" and notice["headers"]["topic"] == "disconnect"
    assert notice["headers"]["contentType"] == "application/json" and notice["headers"]["messageId"]
    assert json.loads(notice["data"]) == {"reason": "connection is expired"}
    client.ack(event)  # an ack during the grace still counts
    publish(sandbox, user_event("u2"))  # ... but nothing more goes out on it, pings neither
    client.ws.settimeout(3)
    started = time.monotonic()
    with pytest.raises(websocket.WebSocketConnectionClosedException):
        client.ws.recv()  # nothing at all until the TCP close
    assert 0.3 < time.monotonic() - started < 2.0
    state = stream_state(sandbox)
    assert state["stats"]["success"] == 1 and state["pending"] == 1
    assert state["connections"][0]["state"] == "closed"


def test_drop_silent_answers_nothing_and_redelivers_after_ack_timeout(sandbox, clients):
    ctl(sandbox, "stream", {"ack_timeout": 0.5})
    quiet = clients(sandbox)
    publish(sandbox, user_event())
    first = quiet.frame()
    assert ctl(sandbox, "stream/drop", {"how": "silent", "connection": quiet.id})["dropped"] == [quiet.id]
    quiet.ws.ping(b"hello?")
    quiet.ws.settimeout(0.5)
    with pytest.raises(websocket.WebSocketTimeoutException):
        quiet.ws.recv_data_frame(True)  # no pong, no push, no ping
    other = clients(sandbox)
    quiet.ack(first)  # not read: the push is still unanswered for the gateway
    again = other.frame(timeout=2)  # after ack_timeout, on a connection that is up
    assert again["headers"]["messageId"] == first["headers"]["messageId"]
    other.ack(again)
    state = stream_state(sandbox)
    assert [c["state"] for c in state["connections"]] == ["silent", "open"]
    assert state["stats"]["timeouts"] == 1 and state["connections"][0]["acks"] == 0
    quiet.close()  # the TCP connection stayed open until the client closed it
    wait_for(lambda: stream_state(sandbox)["connections"][0]["state"] == "closed")


# ----- control: mutations, reset ---------------------------------------------------------------------
def test_mutate_publishes_over_stream_in_stream_mode(sandbox, clients):
    callback = {"url": "http://127.0.0.1:9/cb", "token": "T", "aes_key": "a" * 43, "auto_push": True}
    assert ctl(sandbox, "callback", callback)["ok"]
    assert ctl(sandbox, "stream", {"event_delivery": "stream"})["config"]["event_delivery"] == "stream"
    client = clients(sandbox)
    answer = ctl(sandbox, "mutate", {"op": "add_user", "userid": "new1", "name": "新人", "dept_id_list": [1]})
    assert "push" not in answer and answer["stream"][0]["event_id"] == answer["event"]["eventId"]
    frame = client.frame()
    assert frame["headers"]["eventType"] == "user_add_org"
    assert frame["headers"]["eventId"] == answer["event"]["eventId"]
    assert json.loads(frame["data"])["userId"] == ["new1"]
    client.ack(frame)
    assert ctl(sandbox, "pushes")["pushes"] == []  # no HTTP push
    ctl(sandbox, "stream", {"event_delivery": "http"})
    answer = ctl(sandbox, "mutate", {"op": "add_dept", "name": "新部门", "parent_id": 1})
    assert "stream" not in answer and answer["push"][0]["success"] is False  # HTTP again (nobody listens)
    assert client.nothing(0.3)


def test_reset_forgets_events_keeps_config_and_connections(sandbox, clients):
    ctl(sandbox, "stream", {"ack_timeout": 30, "max_attempts": 4})
    client = clients(sandbox)
    publish(sandbox, user_event())
    client.frame()
    assert ctl(sandbox, "reset", {"users": 5})["ok"]
    state = stream_state(sandbox)
    assert state["config"]["max_attempts"] == 4 and state["stats"]["sent"] == 0
    assert [c["state"] for c in state["connections"]] == ["open"] and events(sandbox) == []
    publish(sandbox, user_event())
    client.ack(client.frame())
    wait_for(lambda: events(sandbox, state="acked"))
    bad = requests.post(f"{sandbox}/_sandbox/stream", json={"event_delivery": "carrier pigeon"}, timeout=5)
    assert bad.status_code == 400


def test_steady_load_is_acked_quickly(sandbox, clients):
    """300 events, 10 every 20 ms, over two connections: all consumed, and the latency the sandbox measures
    is the client's (no polling delay in the delivery path)."""
    pair = [clients(sandbox), clients(sandbox)]
    threads = acking_threads(pair)
    for batch in range(30):
        publish(sandbox, *[user_event("u%d" % (batch * 10 + n)) for n in range(10)])
        time.sleep(0.02)
    for thread in threads:
        thread.join(20)
    assert stream_state(sandbox)["stats"]["success"] == 300
    latencies = sorted(ctl(sandbox, "stream/acks")["ack_ms"])
    assert len(latencies) == 300 and latencies[len(latencies) // 2] < 20


# ----- the official SDK (dingtalk-stream 0.24.3) -----------------------------------------------------
class SdkRunner:
    """``DingTalkStreamClient.start()`` in an asyncio loop of its own thread; ``stop`` cancels it."""

    def __init__(self, client):
        self.loop = asyncio.new_event_loop()
        self.task = None
        self.thread = threading.Thread(target=self._run, args=(client,), daemon=True)
        self.thread.start()

    def _run(self, client):
        asyncio.set_event_loop(self.loop)
        self.task = self.loop.create_task(client.start())
        with contextlib.suppress(BaseException):  # cancelled on purpose
            self.loop.run_until_complete(self.task)
        pending = asyncio.all_tasks(self.loop)
        for task in pending:
            task.cancel()
        self.loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        self.loop.close()

    def stop(self):
        for _ in range(40):  # start() swallows one CancelledError (then sleeps 10 s): cancel again
            if self.task is not None:
                self.loop.call_soon_threadsafe(self.task.cancel)
            self.thread.join(0.25)
            if not self.thread.is_alive():
                return


def test_official_sdk_receives_events_and_its_ack_counts_as_consumed(sandbox, monkeypatch):
    import dingtalk_stream

    monkeypatch.setattr(dingtalk_stream.DingTalkStreamClient, "OPEN_CONNECTION_API", sandbox + OPEN)
    ctl(sandbox, "stream", {"ping_interval": 0.2, "disconnect_grace": 2})
    received = queue.Queue()

    class Recorder(dingtalk_stream.EventHandler):
        async def process(self, event):
            received.put((event.headers.event_type, event.headers.event_id, event.data))
            return dingtalk_stream.AckMessage.STATUS_OK, "OK"

    credential = dingtalk_stream.Credential(APP_KEY, APP_SECRET)
    client = dingtalk_stream.DingTalkStreamClient(
        credential, logger=logging.getLogger("test.dingtalk_stream")
    )
    client.register_all_event_handler(Recorder())
    runner = SdkRunner(client)
    try:
        (conn,) = wait_for(lambda: stream_state(sandbox)["connections"])
        assert conn["ua"] == "dingtalk-sdk-python/v0.24.3-union" and conn["subscriptions"] == EVENT_SUB
        event = user_event("u042")
        publish(sandbox, event)
        assert received.get(timeout=10) == (
            "user_add_org",
            event["eventId"],
            {"timeStamp": event["timeStamp"], "userId": ["u042"]},
        )
        (record,) = wait_for(lambda: events(sandbox, state="acked"))
        assert record["deliveries"][0]["without_status"] is True  # the SDK echoes the data, no status
        stats = stream_state(sandbox)["stats"]
        assert (stats["success"], stats["ack_without_status"], stats["redelivered"]) == (1, 1, 0)
        wait_for(lambda: stream_state(sandbox)["connections"][0]["pings_answered"] >= 1)
        # SYSTEM disconnect: the SDK closes the WebSocket itself and opens a new connection
        ctl(sandbox, "stream/drop", {"how": "disconnect"})
        conns = wait_for(lambda: [c for c in stream_state(sandbox)["connections"] if c["state"] == "open"])
        assert conns[0]["id"] != conn["id"]
        closed = stream_state(sandbox)["connections"][0]
        assert closed["state"] == "closed" and closed["close_reason"] == "client close frame"
        second = user_event("u043")
        publish(sandbox, second)
        assert received.get(timeout=10)[1] == second["eventId"]
    finally:
        runner.stop()
