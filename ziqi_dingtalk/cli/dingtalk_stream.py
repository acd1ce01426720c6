"""``odoo-bin dingtalk_stream -d DB [-c odoo.conf]``: the Stream mode service (protocol §7). It keeps one
outbound connection to DingTalk per company set to Stream, stores every event it receives in the event inbox
(the same as HTTP pushes) and acknowledges it ``SUCCESS`` only once that is committed, ``LATER`` when it could
not be stored. Odoo's cron applies the events, as it does pushed ones.

Threads: each connection has a reader thread (ziqi_dingtalk.dingtalk.stream.StreamAgent), which only hands
messages over; the main thread alone touches the database: it reloads the settings every few seconds
(connecting, reconnecting or disconnecting companies as they change), stores and acknowledges what arrived,
and reports each connection's status. Several such processes may run: DingTalk gives each message to one
connection, and the inbox stores an event once (its eventId), however often and wherever it arrives."""

import logging
import queue
import signal
import threading
import time

from odoo import SUPERUSER_ID, api
from odoo.addons.ziqi_dingtalk.cli import _options as options  # pylint: disable=odoo-addons-relative-import

# absolute: Odoo 19 loads an addon's commands as odoo.cli.<name>, where a relative import fails
from odoo.addons.ziqi_dingtalk.dingtalk import (  # pylint: disable=odoo-addons-relative-import
    stream as dt_stream,
)
from odoo.cli import Command

_logger = logging.getLogger(__name__)

RELOAD_EVERY = 5.0  # seconds between two reads of the settings
REPORT_EVERY = 5.0  # seconds between two status reports of a connection
BATCH = 200  # messages stored in one transaction at most


def _utc(epoch):
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(epoch)) if epoch else False


class StreamService:
    """The service's state and loop, apart from the command line (tests run it on a test cursor)."""

    def __init__(self, registry, *, heartbeat=dt_stream.HEARTBEAT, reload_every=RELOAD_EVERY, process=None):
        self.registry = registry
        self.heartbeat = heartbeat
        self.reload_every = reload_every
        self.inbox = queue.Queue()  # (company id, connection, StreamMessage), filled by the reader threads
        self.agents = {}  # company id -> (settings tuple, StreamAgent)
        self.counts = {}  # company id -> [events received, last event epoch]
        self.process = process
        self._next_reload = 0.0
        self._next_report = 0.0

    # --- the loop ---

    def serve(self, stop):
        """Run until ``stop`` (a threading.Event) is set; then store and acknowledge what already arrived,
        close the connections and report them stopped."""
        try:
            while not stop.is_set():
                self.step()
        finally:
            self.shutdown()

    def step(self, wait=0.2):
        """One turn: the settings when due, what arrived (waiting up to ``wait`` s), the status when due."""
        now = time.monotonic()
        changed = False
        if now >= self._next_reload:
            changed = self._reload_safely()
            self._next_reload = now + self.reload_every
        self.pump(wait)
        if changed or now >= self._next_report:
            self.report()
            self._next_report = now + REPORT_EVERY

    def shutdown(self):
        while self.pump(0):
            pass
        self._stop_agents([agent for _settings, agent in self.agents.values()])
        while self.pump(0):  # arrived while closing: stored; their acknowledgements may be lost (redelivered)
            pass
        self.report(stopping=True)
        self.agents.clear()

    @staticmethod
    def _stop_agents(agents, timeout=5):
        """Stop them all at once, then wait for them together (at most ``timeout`` s in all)."""
        for agent in agents:
            agent.stop(timeout=0)
        deadline = time.monotonic() + timeout
        for agent in agents:
            agent.join(max(0.0, deadline - time.monotonic()))

    # --- settings ---

    def _reload_safely(self):
        """:meth:`reload`; when the database cannot be read (PostgreSQL restarting), the connections stay
        as they are and the next turn tries again."""
        try:
            return self.reload()
        except Exception:
            _logger.exception("DingTalk Stream: the settings could not be read; trying again shortly")
            return False

    def reload(self):
        """Connect the companies newly set to Stream, reconnect those whose settings changed, disconnect
        those no longer set to Stream, and restart an agent whose thread ended; True when it changed
        anything."""
        self.registry = self.registry.check_signaling()  # a module upgraded meanwhile: a fresh registry
        with self.registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            wanted = env["ziqi.dingtalk.stream"]._stream_settings()
            self.process = self.process or env["ziqi.dingtalk.stream"]._host_process()
            changed = bool(set(self.agents) ^ set(wanted))
            stopping = []
            for company_id in set(self.agents) - set(wanted):
                _logger.info("DingTalk Stream: company %s no longer uses Stream", company_id)
                stopping.append(self.agents.pop(company_id)[1])
            for company_id, settings in wanted.items():
                current = self.agents.get(company_id)
                if current and current[0] == settings and current[1].is_alive():
                    continue
                changed = True
                if current:
                    _logger.info(
                        "DingTalk Stream: company %s reconnects (new settings or a dead thread)", company_id
                    )
                    stopping.append(current[1])
                company = env["res.company"].browse(company_id)
                self.agents[company_id] = (settings, self._agent(company))
        self._stop_agents(stopping)
        return changed

    def _agent(self, company):
        client = company._dingtalk_client()  # its open_stream needs no access token: no database access
        company_id = company.id

        def on_event(connection, message):
            self.inbox.put((company_id, connection, message))

        return dt_stream.StreamAgent(
            f"company {company_id}", client.open_stream, on_event, heartbeat=self.heartbeat
        ).start()

    # --- storing and acknowledging ---

    def pump(self, wait):
        """Store what arrived (after waiting up to ``wait`` s for a first message), commit, then acknowledge
        each; returns how many messages were handled."""
        taken = self._take(wait)
        by_company = {}
        for company_id, connection, message in taken:
            by_company.setdefault(company_id, []).append((connection, message))
        for company_id, items in by_company.items():
            answers = self._store(company_id, [message for _connection, message in items])
            for (connection, message), (status, note) in zip(items, answers, strict=True):
                connection.ack(message.message_id, status, note)
            self._count(company_id, answers)
        return len(taken)

    def _take(self, wait):
        try:
            taken = [self.inbox.get(timeout=wait) if wait else self.inbox.get_nowait()]
        except queue.Empty:
            return []
        while len(taken) < BATCH:
            try:
                taken.append(self.inbox.get_nowait())
            except queue.Empty:
                break
        return taken

    def _store(self, company_id, messages):
        """The answers of ``_store_messages``, committed; when the batch cannot be committed, each message on
        its own, so that one bad message does not hold back the others; LATER for those that fail."""
        try:
            return self._store_committed(company_id, messages)
        except Exception:
            if len(messages) == 1:
                _logger.exception("DingTalk Stream event of company %s could not be stored", company_id)
                return [(dt_stream.LATER, "not stored")]
            _logger.warning("DingTalk Stream: a batch of %s events failed; storing each alone", len(messages))
        return [answer for message in messages for answer in self._store(company_id, [message])]

    def _store_committed(self, company_id, messages):
        with self.registry.cursor() as cr:  # committed when the block ends without an error
            env = api.Environment(cr, SUPERUSER_ID, {})
            company = env["res.company"].browse(company_id)
            return env["ziqi.dingtalk.stream"]._store_messages(company, messages)

    def _count(self, company_id, answers):
        counts = self.counts.setdefault(company_id, [0, None])
        counts[0] += sum(1 for _status, note in answers if note == "stored")
        if any(note in ("stored", "duplicate") for _status, note in answers):
            counts[1] = time.time()

    # --- status ---

    def report(self, stopping=False):
        """Write each connection's status (ziqi.dingtalk.stream); failures are logged, never fatal."""
        if not self.process:
            return
        try:
            with self.registry.cursor() as cr:
                Stream = api.Environment(cr, SUPERUSER_ID, {})["ziqi.dingtalk.stream"]
                for company_id, (_settings, agent) in self.agents.items():
                    Stream._report(company_id, self.process, self._status(company_id, agent, stopping))
                Stream._forget_stopped(self.process, [] if stopping else list(self.agents))
        except Exception:
            _logger.exception("DingTalk Stream: the status could not be written")

    def _status(self, company_id, agent, stopping):
        events, last_event = self.counts.get(company_id, [0, None])
        connected = agent.connected_since and not stopping
        return {
            "state": "stopped" if stopping else "connected" if connected else "connecting",
            "connected_since": _utc(agent.connected_since) if connected else False,
            "last_heartbeat_at": _utc(agent.last_received_at),
            "last_event_at": _utc(last_event),
            "events": events,
            "reconnects": agent.reconnects,
            "last_error": agent.last_error or False,
        }


class DingtalkStream(Command):
    """Keep DingTalk's Stream connections and store their events (companies set to Stream)"""

    name = "dingtalk_stream"

    def run(self, args):
        group = options.option_group(self, "DingTalk Stream")
        group.add_option(
            "--heartbeat",
            dest="dingtalk_heartbeat",
            type="float",
            default=dt_stream.HEARTBEAT,
            help="seconds between pings; a connection silent for 3 of them is replaced (default %default)",
        )
        group.add_option(
            "--reload-every",
            dest="dingtalk_reload",
            type="float",
            default=RELOAD_EVERY,
            help="seconds between two reads of the settings (default %default)",
        )
        opt, registry = options.parse(self, args, group)
        stop = threading.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_args: stop.set())
        service = StreamService(registry, heartbeat=opt.dingtalk_heartbeat, reload_every=opt.dingtalk_reload)
        _logger.info("DingTalk Stream service started on %s", registry.db_name)
        service.serve(stop)
        _logger.info("DingTalk Stream service stopped")
