"""Server-side state other than the organisation: tokens, rate limiter, faults, stats, messages."""

import collections
import secrets
import threading
import time


class Tokens:
    """App tokens (one per app, same value while valid and extended on refetch, like DingTalk),
    user tokens (from userAccessToken), refresh tokens and single-use auth codes."""

    def __init__(self, ttl=7200):
        self.ttl = ttl
        self.app_tokens = {}  # token -> {"app_key", "expires"}
        self.current = {}  # app_key -> token
        self.user_tokens = {}  # token -> {"userid", "unionid", "expires", "app_key"}
        self.refresh_tokens = {}  # refresh token -> {"userid", "unionid", "app_key"}
        self.login_codes = {}  # OAuth2 code -> {"userid", "unionid", "app_key", "expires"}
        self.inapp_codes = {}  # getuserinfo code -> {"userid", "expires"}

    def app_token(self, app_key):
        now = time.time()
        token = self.current.get(app_key)
        if token is None or self.app_tokens[token]["expires"] <= now:
            token = secrets.token_hex(16)
            self.current[app_key] = token
        self.app_tokens[token] = {"app_key": app_key, "expires": now + self.ttl}
        return token

    def check_app(self, token):
        """-> (app_key, None) or (None, "missing"|"invalid"|"expired")."""
        if not token:
            return None, "missing"
        info = self.app_tokens.get(token)
        if info is None:
            return None, "invalid"
        if info["expires"] <= time.time():
            return None, "expired"
        return info["app_key"], None

    def user_token(self, userid, app_key, unionid=None):
        """Tokens of a member (``userid``) or of an account outside the organisation (userid None, its
        ``unionid``)."""
        token = secrets.token_hex(16)
        refresh = secrets.token_hex(16)
        who = {"userid": userid, "unionid": unionid, "app_key": app_key}
        self.user_tokens[token] = dict(who, expires=time.time() + self.ttl)
        self.refresh_tokens[refresh] = who
        return token, refresh

    def check_user(self, token):
        info = self.user_tokens.get(token or "")
        if info is None:
            return None, "missing" if not token else "invalid"
        if info["expires"] <= time.time():
            return None, "expired"
        return info, None

    def expire_all(self):
        for table in (self.app_tokens, self.user_tokens):
            for info in table.values():
                info["expires"] = 0

    @staticmethod
    def new_code():
        return secrets.token_hex(16)


class RateLimiter:
    """Sliding one-second window per (app, path); throttled calls do not enter the window."""

    def __init__(self, qps=20):
        self.qps = qps
        self.windows = collections.defaultdict(collections.deque)
        self.lock = threading.Lock()

    def allow(self, app_key, path):
        if not self.qps:
            return True
        now = time.monotonic()
        with self.lock:
            window = self.windows[(app_key, path)]
            while window and window[0] <= now - 1.0:
                window.popleft()
            if len(window) >= self.qps:
                return False
            window.append(now)
            return True

    def reset(self):
        with self.lock:
            self.windows.clear()


class Faults:
    """Injected failures: after ``after`` passing calls, ``count`` calls on ``path`` answer the fault."""

    def __init__(self):
        self.rules = []
        self.lock = threading.Lock()

    def add(self, rule):
        rule = dict(rule)
        rule.setdefault("count", 1)
        rule.setdefault("after", 0)
        rule["seen"] = 0
        rule["fired"] = 0
        with self.lock:
            self.rules.append(rule)
        return rule

    def take(self, path, wildcard="*"):
        """The next rule that fires for a call of ``path`` (rules for ``wildcard`` match every path)."""
        with self.lock:
            for rule in self.rules:
                if rule["path"] not in (path, wildcard) or rule["fired"] >= rule["count"]:
                    continue
                rule["seen"] += 1
                if rule["seen"] > rule["after"]:
                    rule["fired"] += 1
                    return rule
        return None

    def clear(self):
        with self.lock:
            self.rules = []

    def describe(self):
        with self.lock:
            return [dict(r) for r in self.rules]


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.calls = collections.Counter()
        self.throttled = collections.Counter()

    def call(self, path):
        with self.lock:
            self.calls[path] += 1

    def throttle(self, path):
        with self.lock:
            self.throttled[path] += 1

    def snapshot(self):
        with self.lock:
            return {"calls": dict(self.calls), "throttled": dict(self.throttled)}

    def reset(self):
        with self.lock:
            self.calls.clear()
            self.throttled.clear()
