"""What one call of the importer did (plain Python). Each pipeline keeps a report of its own: the sync run
turns it into its counts and error log, an event into its result, first sign-in into log lines."""

import collections
from dataclasses import dataclass

COUNTERS = ("created", "updated", "archived", "unchanged", "failed")


@dataclass(frozen=True)
class Problem:
    """One record the importer could not apply as DingTalk says (it went on with the others)."""

    kind: str
    key: str
    message: str
    request_id: str | None = None


class ImportReport:
    def __init__(self):
        self.counts = collections.defaultdict(collections.Counter)  # kind → counter → number
        self.problems = []
        self.stopped = False  # the archive safety threshold stopped archiving (a problem says why)

    def count(self, kind, counter, amount=1):
        if amount:
            self.counts[kind][counter] += amount

    def problem(self, kind, key, message, request_id=None):
        self.problems.append(Problem(kind, str(key or ""), message, request_id))

    def total(self, *counters):
        return sum(counts[counter] for counts in self.counts.values() for counter in counters)

    @property
    def written(self):
        """Records created, updated or archived."""
        return self.total("created", "updated", "archived")
