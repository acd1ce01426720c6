"""What differs between Odoo 18 and 19 in Time Off (hr_holidays), in one place; the flag is the core's."""

from odoo.addons.ziqi_dingtalk.compat import ODOO_19


def requires_allocation(leave_type):
    """Whether ``leave_type`` (hr.leave.type) takes from an allocation: a yes/no selection on 18, a
    boolean on 19."""
    value = leave_type.requires_allocation
    return bool(value) if ODOO_19 else value == "yes"


def requires_allocation_value(required):
    """The value of hr.leave.type's ``requires_allocation`` for ``required`` (to create one)."""
    if ODOO_19:
        return bool(required)
    return "yes" if required else "no"


def approve_allocation(allocations):
    """Validate new (``confirm``) allocations as their approver would: 18's ``action_validate`` and 19's
    ``action_approve`` end in the same state."""
    if ODOO_19:
        allocations.action_approve()
    else:
        allocations.action_validate()
