"""Event payload parsing in both dialects (protocol §2.1) and Stream frames."""

import json

import pytest

from dingtalk.errors import EventError
from dingtalk.events import Event, parse_event, parse_stream_event

PASCAL_USER = {
    "CorpId": "dingcorp",
    "EventType": "user_leave_org",
    "UserId": ["0134", "0135"],
    "OptStaffId": "0113",
    "TimeStamp": "1645077203219",
}
CAMEL_USER = {
    "EventType": "user_add_org",
    "EventTime": 1685501863357,
    "CorpId": "dingcorp",
    "BizId": "biz",
    "eventId": "ev-1",
    "timeStamp": "1685501863300",
    "userId": ["015xxxx227"],
}


def test_pascal_user_event():
    event = parse_event(PASCAL_USER)
    assert event == Event(
        type="user_leave_org", corp_id="dingcorp", user_ids=("0134", "0135"), timestamp=1645077203219
    )
    assert event.event_id is None and event.dept_ids == () and event.raw == PASCAL_USER


def test_camel_user_event_prefers_timestamp_and_keeps_event_id():
    event = parse_event(json.dumps(CAMEL_USER))
    assert (event.type, event.event_id, event.user_ids) == ("user_add_org", "ev-1", ("015xxxx227",))
    assert event.timestamp == 1685501863300


def test_event_time_when_no_timestamp():
    payload = {"EventType": "org_dept_create", "EventTime": 1685501863357, "deptId": [600582447]}
    event = parse_event(payload)
    assert event.timestamp == 1685501863357 and event.dept_ids == (600582447,)


@pytest.mark.parametrize("key", ["DeptId", "deptId"])
def test_dept_ids_both_dialects_and_string_ids(key):
    event = parse_event({"EventType": "org_dept_remove", key: [600582447, "600582448"]})
    assert event.dept_ids == (600582447, 600582448)


def test_label_events():
    payload = {
        "EventType": "label_user_change",
        "userIdList": ["u1", "u2"],
        "labelIdList": [1234, "5678"],
        "action": "add",
        "timeStamp": "1",
    }
    event = parse_event(payload)
    assert event.user_ids == ("u1", "u2") and event.label_ids == (1234, 5678)
    assert parse_event({"EventType": "label_conf_del", "labelIdList": [9]}).label_ids == (9,)


def test_single_and_comma_separated_ids():
    assert parse_event({"EventType": "x", "UserId": "u1"}).user_ids == ("u1",)
    assert parse_event({"EventType": "x", "userId": "u1,u2"}).user_ids == ("u1", "u2")
    assert parse_event({"EventType": "x", "deptId": 7}).dept_ids == (7,)


def test_check_url_event():
    event = parse_event('{"EventType":"check_url"}')
    assert event.type == "check_url" and event.user_ids == () and event.timestamp is None


def test_bad_timestamp_is_none():
    assert parse_event({"EventType": "x", "TimeStamp": "soon"}).timestamp is None


def test_stream_event_uses_headers():
    headers = {
        "eventType": "user_add_org",
        "eventId": "e9",
        "eventCorpId": "dingcorp",
        "eventBornTime": "1685",
    }
    event = parse_stream_event(headers, '{"timeStamp":"1685501863357","userId":["015xxxx227"]}')
    assert event == Event("user_add_org", "dingcorp", "e9", ("015xxxx227",), timestamp=1685501863357)


@pytest.mark.parametrize("payload", ["not json", "[1, 2]", b"\xff", 42, None, {}, {"EventType": ""}])
def test_invalid_payloads(payload):
    with pytest.raises(EventError):
        parse_event(payload)


def test_repr_leaves_out_raw_payload():
    payload = dict(PASCAL_USER, secret_field="mobile 13800000000")
    text = repr(parse_event(payload))
    assert "13800000000" not in text and "user_leave_org" in text
