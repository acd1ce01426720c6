import datetime

from pytz import timezone

from odoo import models

CALENDAR_BATCH = "ziqi_dingtalk_attendance_calendar_batch"
# a wide window reaches this far past the first window asked: Odoo asks for days and, on 19, whole weeks
MARGIN = datetime.timedelta(days=8)


class CalendarBatch:
    """The calendar intervals of one import batch's people, computed once per calendar, time zone and kind.

    For each attendance it creates, Odoo asks its employee's calendar for working, lunch and leave
    intervals over a day or a week (three to four calls per attendance, a search each). With a batch in
    the context, ``resource.calendar`` answers a call about one of the batch's resources (or about no
    resource) from one call of its own over a wider window for all the batch's resources, cut to the
    window asked.

    Invariant: the cut answer equals Odoo's own. Odoo builds each interval as (max(start, from),
    min(stop, to)) of a calendar occurrence or leave and normalises (merging pieces that touch, their
    records united); cutting normalised intervals gives the same bounds as normalising cut ones, and the
    same records unless a merged interval is cut (a piece of it may lie outside the window Odoo asked):
    such a call is left to Odoo. That holds for fixed schedules, so flexible ones (a flexible calendar,
    or no calendar at all) are left to Odoo too."""

    def __init__(self, resources):
        self.resources = resources.filtered(lambda r: not r._is_flexible())
        self.resource_ids = set(self.resources.ids)
        self._wide = {}  # key -> (start, stop, {resource id: intervals})

    def serves(self, calendar, resources):
        return (
            len(calendar) == 1
            and not calendar.flexible_hours
            and len(resources) <= 1
            and (not resources or resources.id in self.resource_ids)
        )

    def intervals(self, key, start, stop, compute):
        """The wide intervals of ``key`` covering ``start``..``stop``; ``compute(wide_start, wide_stop)``
        makes them for all the batch's resources."""
        entry = self._wide.get(key)
        if entry is None or start < entry[0] or stop > entry[1]:
            low, high = start - MARGIN, stop + MARGIN
            if entry is not None:
                low, high = min(low, entry[0]), max(high, entry[1])
            entry = self._wide[key] = (low, high, compute(low, high))
        return entry[2]


def cut(intervals, start, stop):
    """``intervals`` within ``start``..``stop`` (expressed in the zone of ``start``), of the same class;
    None when an interval of several records is cut: which of them reach into the window is unknown."""
    items = []
    for low, high, records in intervals:
        if low >= stop or high <= start:
            continue
        if len(records) > 1 and (low < start or high > stop):
            return None
        items.append((max(start, low), min(stop, high), records))
    if hasattr(intervals, "_keep_distinct"):  # Odoo 19's Intervals
        return type(intervals)(items, keep_distinct=intervals._keep_distinct)
    return type(intervals)(items)


class ResourceCalendar(models.Model):
    _inherit = "resource.calendar"

    def _attendance_intervals_batch(
        self, start_dt, end_dt, resources=None, domain=None, tz=None, lunch=False
    ):
        batch = self.env.context.get(CALENDAR_BATCH)
        if not batch or domain is not None or not batch.serves(self, resources):
            return super()._attendance_intervals_batch(start_dt, end_dt, resources, domain, tz, lunch)
        result = {}
        for entry in self._dingtalk_entries(resources):
            # Odoo groups the entries by the zone asked, else the resource's, else the calendar's
            entry_tz = tz or timezone((entry or self).tz)

            def compute(low, high, entry_tz=entry_tz):
                return super(ResourceCalendar, self)._attendance_intervals_batch(
                    low, high, batch.resources, tz=entry_tz, lunch=lunch
                )

            wide = batch.intervals(("attendance", self.id, entry_tz.zone, lunch), start_dt, end_dt, compute)
            result[entry.id] = cut(wide[entry.id], start_dt.astimezone(entry_tz), end_dt.astimezone(entry_tz))
            if result[entry.id] is None:
                return super()._attendance_intervals_batch(start_dt, end_dt, resources, domain, tz, lunch)
        return result

    def _leave_intervals_batch(self, start_dt, end_dt, resources=None, domain=None, tz=None, *args, **kwargs):
        batch = self.env.context.get(CALENDAR_BATCH)
        if not batch or args or kwargs or not batch.serves(self, resources):  # any_calendar (18): Odoo's
            return super()._leave_intervals_batch(start_dt, end_dt, resources, domain, tz, *args, **kwargs)
        entries = self._dingtalk_entries(resources)
        # Odoo's loop keeps the first entry's zone for those after it: the resource's, or the calendar's
        entry_tz = tz or timezone((entries[0] or self).tz)

        def compute(low, high):
            return super(ResourceCalendar, self)._leave_intervals_batch(
                low, high, batch.resources, domain, tz=entry_tz
            )

        wide = batch.intervals(("leave", self.id, entry_tz.zone, repr(domain)), start_dt, end_dt, compute)
        start, stop = start_dt.astimezone(entry_tz), end_dt.astimezone(entry_tz)
        result = {entry.id: cut(wide[entry.id], start, stop) for entry in entries}
        if None in result.values():
            return super()._leave_intervals_batch(start_dt, end_dt, resources, domain, tz)
        return result

    def _dingtalk_entries(self, resources):
        """The entries Odoo answers for: the resource asked (if any), then no resource."""
        empty = self.env["resource.resource"]
        return [resources, empty] if resources else [empty]
