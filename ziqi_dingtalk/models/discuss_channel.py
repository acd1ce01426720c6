from odoo import models

from ..compat import USER_ALL_GROUPS

# context key: subscribe only these users (ids) to the channels that subscribe people automatically
SUBSCRIBE_USERS = "dingtalk_subscribe_users"


class DiscussChannel(models.Model):
    _inherit = "discuss.channel"

    def _subscribe_users_automatically_get_members(self):
        """With ``dingtalk_subscribe_users`` in the context, only those users are considered.

        Odoo's own version reads every user of the channel's groups and every member of the channel (for
        "general": the whole company) each time a user is created or a group is granted. The sync creates
        people in batches, so that made each batch read everyone synced before it: time and memory per batch
        grew with the size of the company. The sync passes an empty list while it creates and moves people,
        then the people of the batch once (``_dingtalk_subscribe``); they end up in the same channels."""
        user_ids = self.env.context.get(SUBSCRIBE_USERS)
        if user_ids is None:
            return super()._subscribe_users_automatically_get_members()
        users = self.env["res.users"].sudo().browse(user_ids)
        Member = self.env["discuss.channel.member"].sudo()
        new_members = {}
        for channel in self:
            by_group = users.filtered(lambda user, channel=channel: user[USER_ALL_GROUPS] & channel.group_ids)
            by_department = users.employee_ids.filtered(
                lambda employee, channel=channel: employee.department_id
                and employee.department_id in channel.subscription_department_ids
            ).user_id
            partners = (by_group | by_department).partner_id.filtered("active")
            if partners:
                partners -= Member.search(
                    [("channel_id", "=", channel.id), ("partner_id", "in", partners.ids)]
                ).partner_id
            new_members[channel.id] = partners.ids
        return new_members

    def _dingtalk_subscribe(self, users):
        """Subscribe ``users`` to the channels that their groups or departments subscribe them to."""
        users = users.sudo().exists()
        if not users:
            return
        channels = (
            self.sudo()
            .with_context(**{SUBSCRIBE_USERS: tuple(users.ids)})
            .search(
                [
                    "|",
                    ("group_ids", "in", users[USER_ALL_GROUPS].ids),
                    ("subscription_department_ids", "in", users.employee_ids.department_id.ids),
                ]
            )
        )
        if channels:
            channels._subscribe_users_automatically()
