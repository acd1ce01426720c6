"""Throttle of the DingTalk sign-in routes: each attempt may cost calls to DingTalk, so callers get a quota.

Like Odoo's own login cooldown (``res.users._assert_can_auth``) the counts live in memory on the registry:
per database and per server process (a multi-worker server multiplies the quota by its workers), bounded in
size, forgotten on restart. Behind a reverse proxy, Odoo must run with ``proxy_mode`` or every person shares
the proxy's address.
"""

import hashlib
import threading

from odoo.http import request

from ..dingtalk.ratelimit import WindowCounter

PERIOD = 60  # seconds of the sliding window
ADDRESS_LIMIT = 10  # attempts per window from one client address
SESSION_LIMIT = 5  # attempts per window from one browser session
MAX_KEYS = 20000  # addresses and sessions remembered per database and process

_CREATE_LOCK = threading.Lock()


def signin_throttle(registry):
    """The sign-in throttle of this registry (database), created on first use."""
    throttle = getattr(registry, "_dingtalk_signin_throttle", None)
    if throttle is None:
        with _CREATE_LOCK:
            throttle = getattr(registry, "_dingtalk_signin_throttle", None)
            if throttle is None:
                throttle = registry._dingtalk_signin_throttle = WindowCounter(PERIOD, max_keys=MAX_KEYS)
    return throttle


def admit_signin_attempt():
    """Count this request as a sign-in attempt of its address and session; False when either is over quota."""
    throttle = signin_throttle(request.env.registry)
    address = request.httprequest.remote_addr or "unknown"
    # the session id is a credential: only a digest of it is kept
    session = hashlib.sha256(request.session.sid.encode()).hexdigest()[:32]
    return throttle.hit(("address", address), ADDRESS_LIMIT) and throttle.hit(
        ("session", session), SESSION_LIMIT
    )
