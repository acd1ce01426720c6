"""Event payload parsing in both dialects (protocol §2.1) and Stream frames."""

import json

import pytest

from dingtalk.errors import EventError
from dingtalk.events import Event, fingerprints, parse_event, parse_failed_event, parse_stream_event
from dingtalk_sandbox import events as sandbox_events
from dingtalk_sandbox.failed import failed_entry

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


# --- failed pushes: entries of call_back/get_call_back_failed_result (protocol §2.3) ---

# the answer's example in [KB:API/0015-obtain-the-event-list-of-failed-push-messages]
KB_FAILED_LIST = [
    {
        "user_add_org": {"userid": ["zhangsan"], "corpid": "ding241f334c339e175b35c2f4657xxxx"},
        "call_back_tag": "user_add_org",
        "event_time": 1606126433000,
    },
    {
        "bpms_instance_change": {"bpmsCallBackData": {}, "corpid": "ding241f334c339e175b35c2f4657xxxx"},
        "call_back_tag": "bpms_instance_change",
        "event_time": 1606126433000,
    },
    {
        "label_conf_add": {"roleLabelChange": {}, "corpid": "ding241f334c339e175b35c2f4657xxxx"},
        "call_back_tag": "label_conf_add",
        "event_time": 1606126433000,
    },
]


def test_failed_entries_of_the_documented_answer():
    events = [parse_failed_event(entry) for entry in KB_FAILED_LIST]
    assert [e.type for e in events] == ["user_add_org", "bpms_instance_change", "label_conf_add"]
    assert events[0] == Event(
        "user_add_org", "ding241f334c339e175b35c2f4657xxxx", None, ("zhangsan",), timestamp=1606126433000
    )
    assert events[0].raw == KB_FAILED_LIST[0], "the entry is kept as DingTalk gave it"
    assert events[2].label_ids == () and events[2].corp_id == "ding241f334c339e175b35c2f4657xxxx"


def test_failed_role_entry_nested_as_object_or_text():
    role = {"labelIdList": [20, "21"], "userIdList": ["u1"], "action": "add"}
    for nested in (role, json.dumps(role)):
        entry = {
            "label_user_change": {"roleLabelChange": nested, "corpid": "c"},
            "call_back_tag": "label_user_change",
        }
        event = parse_failed_event(entry)
        assert (event.label_ids, event.user_ids, event.timestamp) == ((20, 21), ("u1",), None)


@pytest.mark.parametrize("entry", [None, [], "x", {}, {"call_back_tag": ""}, {"call_back_tag": 5}])
def test_invalid_failed_entries(entry):
    with pytest.raises(EventError):
        parse_failed_event(entry)


SANDBOX_EVENTS = [
    sandbox_events.make_event("user_modify_org", user_ids=["u9", "u1"], diffInfo={"curr": {"name": "王"}}),
    sandbox_events.make_event("user_leave_org", user_ids=["u2"], OptStaffId="boss"),
    sandbox_events.make_event("org_dept_create", dept_ids=[600582447]),
    sandbox_events.make_event("label_user_change", userIdList=["u3"], labelIdList=[20], action="remove"),
    sandbox_events.make_event("label_conf_modify", labelIdList=[21], scope="1"),
]


@pytest.mark.parametrize("dialect", ["camel", "pascal"])
@pytest.mark.parametrize("made", SANDBOX_EVENTS, ids=lambda e: e["EventType"])
def test_a_push_and_its_failed_entry_have_a_name_in_common(dialect, made):
    payload = sandbox_events.render(made, dialect, "dingcorp")  # what DingTalk pushed
    pushed, pulled = parse_event(payload), parse_failed_event(failed_entry(payload, "dingcorp"))
    assert fingerprints(pushed) & fingerprints(pulled)
    assert (pulled.type, pulled.user_ids, pulled.dept_ids, pulled.label_ids) == (
        pushed.type,
        pushed.user_ids,
        pushed.dept_ids,
        pushed.label_ids,
    )


def test_fingerprints_follow_either_time_of_a_push():
    # the docs' sample push carries two different times: the failed entry may repeat either
    pushed = fingerprints(parse_event(CAMEL_USER))
    for stamp in (CAMEL_USER["EventTime"], int(CAMEL_USER["timeStamp"])):
        entry = {
            "user_add_org": {"userid": ["015xxxx227"]},
            "call_back_tag": "user_add_org",
            "event_time": stamp,
        }
        assert fingerprints(parse_failed_event(entry)) <= pushed
    assert len(pushed) == 2


def test_fingerprints_tell_other_events_apart():
    entry = {"user_add_org": {"userid": ["015xxxx227"]}, "call_back_tag": "user_add_org", "event_time": 1}
    other_time, other_person = dict(entry, event_time=2), dict(entry, user_add_org={"userid": ["0999"]})
    other_type = {"user_leave_org": entry["user_add_org"], "call_back_tag": "user_leave_org", "event_time": 1}
    names = fingerprints(parse_failed_event(entry))
    for other in (other_time, other_person, other_type):
        assert not names & fingerprints(parse_failed_event(other))
    reordered = {"user_add_org": {"userid": ["b", "a"]}, "call_back_tag": "user_add_org", "event_time": 1}
    assert fingerprints(parse_failed_event(reordered)) == fingerprints(
        parse_failed_event(dict(reordered, user_add_org={"userid": ["a", "b"]}))
    )


def test_manager_changes_of_a_diff_info():
    """diffInfo shows managerUserid in prev and curr when the person has one, in prev only once removed."""
    from dingtalk.events import manager_changes

    assert manager_changes(
        {"userid": "u1", "prev": {"managerUserid": "a"}, "curr": {"managerUserid": "b"}}
    ) == {"u1": "b"}
    assert manager_changes({"userid": "u1", "prev": {"managerUserid": "a"}, "curr": {"name": "x"}}) == {
        "u1": ""
    }
    assert manager_changes({"userid": "u1", "prev": {"name": "y"}, "curr": {"name": "x"}}) == {}
    assert manager_changes(None) == {} and manager_changes("garbage") == {}


@pytest.mark.parametrize(
    "payload",
    [
        '{"EventType": "user_add_org", "userId": [NaN]}',
        '{"EventType": "user_add_org", "t": Infinity}',
        '{"EventType": "user_add_org", "userId": ["a\\u0000b"]}',
    ],
)
def test_a_payload_postgresql_cannot_store_is_unreadable(payload):
    """jsonb refuses NaN, Infinity and NUL: such a payload is unreadable (a push answered 400, a Stream event
    acknowledged and logged) instead of failing in the database at each delivery."""
    with pytest.raises(EventError):
        parse_event(payload)
