"""``/_sandbox/approval/...`` control calls: templates, settings, instances, and acting as an approver
(the person tapping 同意 / 拒绝 in DingTalk). Semantics in workflow.py; routes in docs/sandbox.md."""

from . import delivery
from .workflow_forms import make_template


def _template_json(tpl):
    return dict(tpl)


def templates(sb, body):
    """GET: every template with its components, flow, status and allow_revoke."""
    with sb.lock:
        return {"templates": [_template_json(t) for t in sb.workflow.templates.values()]}


def put_template(sb, body):
    """POST a template description: ``{"process_code", "name", "status", "allow_revoke", "flow",
    "components": [{"type", "label", "required", "options", "format", "children"}]}``; an existing
    process_code is replaced, keeping what the description leaves out."""
    with sb.lock:
        previous = sb.workflow.templates.get(body.get("process_code"))
        tpl = make_template(body, previous)
        sb.workflow.templates[tpl["process_code"]] = tpl
        return {"ok": True, "template": _template_json(tpl)}


def config(sb, body):
    """POST ``{"terminate_min_age": s, "hold_events": bool, "get_success": "string"|"bool"}``; GET reads."""
    with sb.lock:
        return {"ok": True, "config": sb.workflow.configure(body if isinstance(body, dict) else {})}


def instances(sb, body):
    with sb.lock:
        wf = sb.workflow
        return {"instances": [wf.state_json(i) for i in wf.instances.values()]}


def instance(sb, body):
    with sb.lock:
        inst = sb.workflow.instances.get(str(body.get("id") or ""))
        if inst is None:
            raise ValueError("no such instance %r" % body.get("id"))
        return {"instance": sb.workflow.state_json(inst)}


def event_log(sb, body):
    """GET every event the approvals produced (``?held=1``: only those kept back, ``?held=0``: sent)."""
    held = body.get("held")
    with sb.lock:
        entries = list(sb.workflow.log)
    if held not in (None, ""):
        entries = [e for e in entries if e["held"] == (str(held) in ("1", "true"))]
    return {"events": [e["event"] for e in entries]}


def act(sb, body):
    """``{"instance_id", "userid", "action": agree|refuse|comment, "remark", "push"}``: agree/refuse the
    user's open task, or comment as any active person. The events come back in ``events``; with
    ``push: false`` (default: not ``hold_events``) they are not delivered."""
    action = body.get("action")
    if action not in ("agree", "refuse", "comment"):
        raise ValueError("action must be agree, refuse or comment")
    userid, remark = str(body.get("userid") or ""), str(body.get("remark") or "")
    with sb.lock:
        org, wf = sb.org, sb.workflow
        inst = wf.instances.get(str(body.get("instance_id") or ""))
        if inst is None:
            raise ValueError("no such instance %r" % body.get("instance_id"))
        if org.active_user(userid) is None:
            raise ValueError("no such active user %r" % userid)
        if action == "comment":
            if not remark.strip():
                raise ValueError("a comment needs a remark")
            wf.comment(inst, userid, remark)
            produced = []
        else:
            task = wf.open_task(inst, userid) if inst["status"] == "RUNNING" else None
            if task is None:
                raise ValueError("%s has no open task on instance %s" % (userid, inst["id"]))
            produced = wf.act(org, inst, task, action, remark)
        push = bool(body["push"]) if "push" in body else not wf.config["hold_events"]
        wf.log.extend({"event": ev, "held": not push} for ev in produced)
        state = wf.state_json(inst)
    out = {"ok": True, "events": produced, "instance": state}
    if push:
        out.update(delivery.deliver(sb, produced))
    return out


ROUTES = {
    ("GET", "/_sandbox/approval/templates"): templates,
    ("POST", "/_sandbox/approval/templates"): put_template,
    ("GET", "/_sandbox/approval/config"): lambda sb, body: config(sb, {}),
    ("POST", "/_sandbox/approval/config"): config,
    ("GET", "/_sandbox/approval/instances"): instances,
    ("GET", "/_sandbox/approval/instance"): instance,
    ("GET", "/_sandbox/approval/events"): event_log,
    ("POST", "/_sandbox/approval/act"): act,
}
