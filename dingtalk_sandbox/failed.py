"""Pushes DingTalk gave up on (protocol §2.3, §9.6): retried on DingTalk's schedule, then parked until the
app pulls them with ``GET /call_back/get_call_back_failed_result``.

What DingTalk documents, and what this module does (files of apolloyyu/kb-dingtalk-open-platform under
``docs/01-应用开发/``):

* ``02-4a8AMF6u2A-服务端API/0015-obtain-the-event-list-of-failed-push-messages.md``
  (获取推送失败的事件列表): a failed push is pushed again, the 1st retry 10 s after the failure, the 2nd
  30 s after the 1st ("第几次重试 / 与上次重试时间间隔": 1 → 10秒, 2 → 30秒); once the 2nd retry failed,
  the event "可在3～5分钟内" (within 3 to 5 minutes) can be fetched with the API. Its answer:
  ``failed_list`` ("一次最多200个": at most 200 per call), ``has_more`` (more failed events wait), each
  entry ``{"<call_back_tag>": {"userid": [...], "corpid": ...}, "call_back_tag": ..., "event_time": <ms>}``;
  role events carry their data under ``roleLabelChange`` (approval ones under ``bpmsCallBackData``, other
  callbacks under ``callbackData``).
* ``04-LFcRvVD08N-事件订阅/0230-event-subscription-and-data-push.md``:
  "每次调用该接口会自动清除上一次调用所返回的failed_list数据" (each call clears what the previous call
  returned). The sandbox forgets an entry as soon as it has answered with it, the stricter reading: a
  client that stores a page before asking for the next is right under both.
* ``04-LFcRvVD08N-事件订阅/0232-http-callback-overview.md``: only an answer holding the encrypted
  ``success`` makes DingTalk count a push as delivered ("只有返回了该数据，钉钉才会判断此事件推送成功");
  anything else (no connection, a timeout, an HTTP error, a wrong answer) is a failed push.
* ``04-LFcRvVD08N-事件订阅/0235-list-of-events-where-historical-push-notifications-failed.md``: the
  legacy copy of 0015, same answer.

Not documented, chosen here: a department event's ids sit under ``deptid`` next to ``corpid`` (by analogy
with the documented ``userid``); ``roleLabelChange`` (shown as ``{}`` in the docs) holds the role push's
own fields (``labelIdList``, ``userIdList``, ``action``, ``scope``...); ``event_time`` is the push's
``EventTime`` (its ``TimeStamp`` in the observed dialect, which has no ``EventTime``); a retry sends the
same payload again, with a fresh signature, timestamp and nonce. The push timeout is 10 s by default
(DingTalk's documented deadline is 1.5 s / 2.5 s, protocol §1.5; ``push_timeout`` sets it).
"""

import collections
import heapq
import itertools
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from . import events

DEFAULT_RETRY_DELAYS = (10.0, 30.0)  # [KB:API/0015] seconds after the previous attempt
DEFAULT_VISIBLE_AFTER = 180.0  # [KB:API/0015] "3～5分钟": the earliest
PAGE_SIZE = 200  # [KB:API/0015] "一次最多200个"
DEFAULT_PUSH_TIMEOUT = 10.0
WORKERS = 8  # retries sent at once (DingTalk pushes concurrently)
# the push's own envelope: what a failed_list entry keeps apart (call_back_tag, event_time, corpid)
_ENVELOPE = {"EventType", "EventTime", "CorpId", "eventId", "timeStamp", "BizId"}
NOT_RETRIED = {"check_url"}  # the console's URL check is a one-off (KB EV/0232)


def failed_entry(payload, corp_id):
    """The ``failed_list`` entry DingTalk keeps for a push it gave up on ([KB:API/0015]), from the pushed
    payload (either dialect)."""
    event = events.normalise(payload)
    tag = str(event.get("EventType"))
    data = {}
    if tag.startswith("label_"):
        data["roleLabelChange"] = {k: v for k, v in event.items() if k not in _ENVELOPE}
    else:
        if "userId" in event:
            data["userid"] = list(event["userId"])
        if "deptId" in event:
            data["deptid"] = list(event["deptId"])
    data["corpid"] = event.get("CorpId") or corp_id
    stamp = event.get("EventTime") or event.get("timeStamp") or int(time.time() * 1000)
    return {tag: data, "call_back_tag": tag, "event_time": int(stamp)}


class _Job:
    """One event on its way: what to push (the rendered payload from the 2nd attempt on) and how."""

    __slots__ = ("attempt", "callback", "corp_id", "event", "event_id", "generation", "options")

    def __init__(self, callback, event, corp_id, options, attempt, generation, event_id):
        self.callback, self.event, self.corp_id, self.options = callback, event, corp_id, options
        self.attempt, self.generation, self.event_id = attempt, generation, event_id


class Redelivery:
    """Every push the sandbox makes, its retries on DingTalk's schedule and the parked (failed) events."""

    def __init__(self, sb):
        self.sb = sb
        self.cond = threading.Condition()
        self.retry_delays = list(DEFAULT_RETRY_DELAYS)
        self.visible_after = DEFAULT_VISIBLE_AFTER
        self.page_size = PAGE_SIZE
        self.push_timeout = DEFAULT_PUSH_TIMEOUT
        self._seq = itertools.count()
        self._generation = 0
        self._thread = None
        self._pool = None
        self.reset()

    def reset(self):
        """Forget every scheduled retry and parked event (a retry already under way is not recorded)."""
        with self.cond:
            self._generation += 1
            self._due = []  # heap of (monotonic due time, seq, job)
            self._in_flight = 0
            self._parked = []  # {"entry", "event_id", "parked_at", "visible_at"}
            self._served = []
            self.counts = collections.Counter()

    def configure(self, body):
        """Settings of ``/_sandbox/config``: push_retry_delays, failed_visible_after, failed_page_size,
        push_timeout; returns them all."""
        with self.cond:
            if "push_retry_delays" in body:
                delays = [float(d) for d in body["push_retry_delays"]]
                if any(d < 0 for d in delays):
                    raise ValueError("push_retry_delays must be seconds >= 0")
                self.retry_delays = delays
            if "failed_visible_after" in body:
                self.visible_after = max(0.0, float(body["failed_visible_after"]))
            if "failed_page_size" in body:
                size = int(body["failed_page_size"])
                if size < 1:
                    raise ValueError("failed_page_size must be at least 1")
                self.page_size = size
            if "push_timeout" in body:
                self.push_timeout = max(0.001, float(body["push_timeout"]))
            return {
                "push_retry_delays": list(self.retry_delays),
                "failed_visible_after": self.visible_after,
                "failed_page_size": self.page_size,
                "push_timeout": self.push_timeout,
            }

    # ----- pushing ---------------------------------------------------------------------------------
    def deliver(self, callback, event, corp_id, retry=True, **options):
        """Push ``event`` now and return that attempt's result; when it fails and ``retry`` is on, push it
        again after each of ``retry_delays``, then park it for get_call_back_failed_result."""
        with self.cond:
            generation = self._generation
        retry = retry and event.get("EventType") not in NOT_RETRIED
        job = _Job(callback, event, corp_id, options, 1, generation, event.get("eventId"))
        result = events.push(callback, event, corp_id, timeout=self.push_timeout, **options)
        self._after(job, result, retry)
        return result

    def _after(self, job, result, retry):
        retry = retry and result.get("payload") is not None  # no callback configured: nothing to retry
        record = {"time": int(time.time() * 1000), "attempt": job.attempt, **result}
        record.update(retry_in=None, parked=False)
        with self.sb.lock, self.cond:  # lock order: sb.lock, then cond (as in reset through control.reset)
            if job.generation != self._generation:
                return
            if retry:
                self._count(job, result, record)
            self.sb.pushes.append(record)

    def _count(self, job, result, record):
        """Called with the locks held: what happens next to an event whose attempt ``job`` gave ``result``."""
        if job.attempt == 1:
            self.counts["events"] += 1
        else:
            self.counts["retries"] += 1
        if result["success"]:
            self.counts["delivered_first" if job.attempt == 1 else "delivered_retry"] += 1
        elif job.attempt <= len(self.retry_delays):
            delay = self.retry_delays[job.attempt - 1]
            record["retry_in"] = delay
            nxt = _Job(
                job.callback,
                result["payload"],
                job.corp_id,
                job.options,
                job.attempt + 1,
                job.generation,
                job.event_id,
            )
            heapq.heappush(self._due, (time.monotonic() + delay, next(self._seq), nxt))
            self._start()
            self.cond.notify()
        else:
            record["parked"] = True
            self._park(result["payload"], job.corp_id, job.event_id)

    def _park(self, payload, corp_id, event_id):
        now = time.time()
        self._parked.append(
            {
                "entry": failed_entry(payload, corp_id),
                "event_id": event_id or payload.get("eventId"),
                "parked_at": int(now * 1000),
                "visible_at": now + self.visible_after,
            }
        )
        self.counts["parked"] += 1

    def park(self, payload, corp_id):
        """Park an event directly, as if all its pushes had failed (``POST /_sandbox/failed``)."""
        with self.cond:
            self._park(payload, corp_id, payload.get("eventId"))
            return self._parked[-1]["entry"]

    def _start(self):
        if self._thread is None:
            self._pool = ThreadPoolExecutor(WORKERS, thread_name_prefix="dingtalk-sandbox-retry")
            self._thread = threading.Thread(target=self._run, name="dingtalk-sandbox-retries", daemon=True)
            self._thread.start()

    def _run(self):
        while True:
            with self.cond:
                while not self._due or self._due[0][0] > time.monotonic():
                    self.cond.wait(self._due[0][0] - time.monotonic() if self._due else None)
                job = heapq.heappop(self._due)[2]
                self._in_flight += 1
            self._pool.submit(self._retry, job)

    def _retry(self, job):
        try:
            result = events.push(
                job.callback, job.event, job.corp_id, timeout=self.push_timeout, **job.options
            )
            self._after(job, result, True)
        finally:
            with self.cond:
                self._in_flight -= 1

    # ----- the failed list -----------------------------------------------------------------------
    def take_page(self):
        """One answer of get_call_back_failed_result: the first ``page_size`` parked events that can be
        fetched by now, forgotten from here on, and whether more can be fetched."""
        now = time.time()
        with self.cond:
            visible = [p for p in self._parked if p["visible_at"] <= now]
            page = visible[: self.page_size]
            taken = {id(p) for p in page}
            self._parked = [p for p in self._parked if id(p) not in taken]
            self._served.extend(dict(p, served_at=int(now * 1000)) for p in page)
            self.counts["pulls"] += 1
            self.counts["served"] += len(page)
            return {"failed_list": [p["entry"] for p in page], "has_more": len(visible) > len(page)}

    def describe(self):
        """``GET /_sandbox/failed``: counts, retries still to come, parked and already served events."""
        now = time.time()
        with self.cond:
            return {
                "counts": dict(self.counts),
                "scheduled": len(self._due) + self._in_flight,
                "parked": [
                    {k: v for k, v in p.items() if k != "visible_at"} | {"visible": p["visible_at"] <= now}
                    for p in self._parked
                ],
                "served": list(self._served),
            }
