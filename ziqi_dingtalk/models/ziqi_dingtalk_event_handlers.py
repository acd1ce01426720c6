"""What each DingTalk event does. A handler is a method ``_handle_<EventType>(client, applier)`` of
``ziqi.dingtalk.event`` returning ``(state, result)``; another module adds an event type by inheriting
``ziqi.dingtalk.event`` and defining its handler. Handlers read the current state from DingTalk (events carry
ids only and may come out of order or twice) and apply it with the sync's own mapping (``applier`` is an
unsaved sync run of the event's company)."""

from odoo import models

from ..dingtalk import errors as dt_errors

OUT_OF_SCOPE = {50002, 50004}


class ZiqiDingtalkEventHandlers(models.AbstractModel):
    _name = "ziqi.dingtalk.event.handlers"
    _description = "DingTalk Event Handlers"

    # --- people ---

    def _handle_user_add_org(self, client, applier):
        return self._apply_people(client, applier)

    def _handle_user_modify_org(self, client, applier):
        return self._apply_people(client, applier)

    def _handle_user_active_org(self, client, applier):
        return self._apply_people(client, applier)

    def _handle_user_leave_org(self, client, applier):
        return self._apply_people(client, applier)

    def _apply_people(self, client, applier):
        payloads, listed, gone, outside = {}, {}, [], []
        for userid in self._ids_of("user_ids"):
            try:
                payload = client.user_get(userid)
            except dt_errors.NotFound:
                gone.append(userid)
                continue
            except dt_errors.APIError as error:
                if error.errcode in OUT_OF_SCOPE:
                    outside.append(userid)
                    continue
                raise
            # ``active: false`` is someone who has not activated DingTalk yet: staff (protocol §9.1)
            if getattr(client, "from_list", lambda userid: False)(userid):
                listed[userid] = payload
            else:
                payloads[userid] = payload
        if payloads:
            applier._apply_user_get_payloads(payloads)
        if listed:
            applier._apply_user_list_payloads(listed)
        leavers = applier._employee_map(gone)
        archived = applier._archive_guarded(leavers)
        if archived is None:
            return "failed", self.env._(
                "Not archived: %(count)s people at once would pass the archive safety threshold. Check "
                "DingTalk, then retry this event (after raising the threshold if they really left).",
                count=len(leavers),
            )
        if outside and not payloads and not listed and not gone:
            return "skipped", self.env._("outside the app's contacts scope: %(ids)s", ids=", ".join(outside))
        return "done", self.env._(
            "%(updated)s applied, %(archived)s archived",
            updated=len(payloads) + len(listed),
            archived=len(archived),
        )

    # --- departments ---

    def _handle_org_dept_create(self, client, applier):
        return self._apply_departments(client, applier)

    def _handle_org_dept_modify(self, client, applier):
        return self._apply_departments(client, applier)

    def _handle_org_dept_remove(self, client, applier):
        return self._apply_departments(client, applier)

    def _apply_departments(self, client, applier):
        bound = set(applier._department_map())
        payloads, gone = {}, []
        todo = list(self._ids_of("dept_ids"))
        while todo:  # the department, and any parent Odoo does not know yet
            key = todo.pop()
            try:
                payload = client.department_get(int(key))
            except dt_errors.NotFound:
                gone.append(key)
                continue
            payloads[key] = payload
            parent = str(payload.get("parent_id") or "")
            if parent and parent not in bound and parent not in payloads:
                todo.append(parent)
        applier._apply_departments(payloads)
        Department = applier._env_quiet("hr.department")
        removed = Department.search(
            [("company_id", "=", applier._company().id), ("dingtalk_id", "in", gone), ("active", "=", True)]
        )
        removed.write({"active": False})
        return "done", self.env._(
            "%(updated)s applied, %(archived)s archived", updated=len(payloads), archived=len(removed)
        )

    # --- roles ---

    def _handle_label_user_change(self, client, applier):
        return self._apply_roles(client, applier)

    def _handle_label_conf_add(self, client, applier):
        return self._apply_roles(client, applier)

    def _handle_label_conf_modify(self, client, applier):
        return self._apply_roles(client, applier)

    def _handle_label_conf_del(self, client, applier):
        return self._apply_roles(client, applier)

    def _apply_roles(self, client, applier):
        wanted = set(self._ids_of("label_ids"))
        payloads = {}
        for group in client.iter_roles():
            for role in group.get("roles") or ():
                if str(role["id"]) in wanted:
                    payloads[str(role["id"])] = {
                        "id": role["id"],
                        "name": role.get("name"),
                        "group_id": group.get("groupId"),
                        "group_name": group.get("name"),
                    }
        members = {key: [m["userid"] for m in client.iter_role_members(int(key))] for key in payloads}
        applier._apply_roles(payloads, members)
        Role = applier._env_quiet("ziqi.dingtalk.role")
        gone = Role.search(
            [
                ("company_id", "=", applier._company().id),
                ("active", "=", True),
                ("dingtalk_id", "in", sorted(wanted - set(payloads))),
            ]
        )
        applier._archive_roles(gone)
        return "done", self.env._(
            "%(updated)s applied, %(archived)s archived", updated=len(payloads), archived=len(gone)
        )

    # --- administrators: a sync never grants administration, so nothing to do ---

    def _handle_org_admin_add(self, client, applier):
        return "skipped", self.env._("DingTalk administrators get no Odoo rights from DingTalk")

    def _handle_org_admin_remove(self, client, applier):
        return "skipped", self.env._("DingTalk administrators get no Odoo rights from DingTalk")
