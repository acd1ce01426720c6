"""Typed errors of the DingTalk protocol layer.

Everything raised on purpose by this package is a :class:`DingTalkError`. Messages never contain a
secret, an access token or an auth code, so they can be logged and shown to administrators.
"""

import ipaddress
import re


class DingTalkError(Exception):
    """Base class of every error raised by the protocol layer."""


# --- callback crypto (protocol §1); codes are those of the official DingCallbackCrypto libraries ---


class CryptoError(DingTalkError):
    """A callback could not be verified or decrypted."""

    code = 900000


class InvalidAESKey(CryptoError):
    """The configured aes_key is not 43 characters of Base64 giving a 32-byte key."""

    code = 900004


class InvalidSignature(CryptoError):
    """The request signature does not match sha1(sorted(token, timestamp, nonce, encrypt))."""

    code = 900005


class InvalidBase64(CryptoError):
    """The ``encrypt`` value is missing or is not standard Base64."""

    code = 900007


class InvalidPadding(CryptoError):
    """Decryption failed: bad PKCS#7 (block 32) padding or a message that is not UTF-8."""

    code = 900008


class InvalidLength(CryptoError):
    """The ciphertext is not whole AES blocks or the embedded message length does not fit."""

    code = 900009


class InvalidReceiver(CryptoError):
    """The receiver id (AppKey / CorpId / suiteKey) inside the message is not one we accept."""

    code = 900010


# --- HTTP API ---


class TransportError(DingTalkError):
    """Network failure, timeout or an answer that is not DingTalk JSON (IP-ban page, gateway error)."""

    def __init__(self, message, *, api=None, http_status=None):
        super().__init__(message)
        self.api = api
        self.http_status = http_status


TOKEN_ERROR_CODES = frozenset({40001, 40014, 42001})
# Throttling (protocol §3.3) [KB:API/1433-how-to-process-api-throttling-on-the-dingtalk-server,
# KB:API/0013-server-api-error-codes-1]: 90018 this app × this API per second, 90002 this API for every app;
# 90001 / 90003-90006 calls of this server, organisation or CorpId "temporarily disabled" for calling too
# much; 45009 "接口调用超过限制". v1.0: Forbidden.AccessDenied.QpsLimitForAppkeyAndApi, QpmLimitFor…,
# QpsLimitForApi (and the ISV variants), all matched by prefix. The KB has no "Throttling.*" code.
RATE_LIMIT_CODES = frozenset({90018, 90002, 90001, 90003, 90004, 90005, 90006, 45009})
RETRYABLE_CODES = RATE_LIMIT_CODES | {-1}
RATE_LIMIT_PREFIXES = ("Forbidden.AccessDenied.Qps", "Forbidden.AccessDenied.Qpm")
# Paging [KB:API/0013]: 40069 "不合法的分页大小", 40068 "不合法的偏移量" (role/list, role/simplelist...).
PAGE_SIZE_CODE, PAGE_OFFSET_CODE = 40069, 40068
# "request ip=203.119.196.81 appKey(…)" in 60020 messages [KB:API/1447-obtain-jsapi-ticket,
# KB:DEV/0024-optional-develop-a-small-program-server]; IPv6 addresses are seen too.
_REQUEST_IP = re.compile(r"request\s*ip\s*[=:：]\s*([0-9A-Fa-f:.]+)", re.IGNORECASE)


class APIError(DingTalkError):
    """DingTalk answered with an error.

    ``errcode`` is the int ``errcode`` of oapi (topapi) answers or the string ``code`` of
    api.dingtalk.com/v1.0 answers; ``sub_code`` is the (string) sub code that oapi wraps into errcode 88.
    ``hint`` (subclasses) says in plain English what the error means and what to do; the Odoo side words
    the same in the user's language, choosing by the error's type.
    """

    hint = None

    def __init__(
        self, errcode, errmsg="", *, sub_code=None, sub_msg=None, request_id=None, http_status=None, api=None
    ):
        self.errcode = errcode
        self.errmsg = errmsg or ""
        self.sub_code = None if sub_code in (None, "") else str(sub_code)
        self.sub_msg = sub_msg
        self.request_id = request_id
        self.http_status = http_status
        self.api = api
        super().__init__(self._describe())

    def _describe(self):
        text = f"DingTalk error {self.errcode}"
        if self.sub_code:
            text += f"/{self.sub_code}"
        text += f" on {self.api}: {self.errmsg}" if self.api else f": {self.errmsg}"
        if self.sub_msg:
            text += f" ({self.sub_msg})"
        if self.request_id:
            text += f" [request id {self.request_id}]"
        return text

    def _codes(self):
        """errcode and sub_code, ints where they are numeric."""
        codes = {self.errcode}
        if self.sub_code is not None:
            codes.add(int(self.sub_code) if self.sub_code.lstrip("-").isdigit() else self.sub_code)
        return codes

    @property
    def is_token_error(self):
        """The app access token is invalid or expired: refresh it and retry once."""
        return bool(self._codes() & TOKEN_ERROR_CODES) or self.errcode == "InvalidAuthentication"

    @property
    def is_rate_limit(self):
        """DingTalk throttled the call (per app/API QPS or QPM, or the global per-API limit)."""
        codes = self._codes()
        return bool(codes & RATE_LIMIT_CODES) or any(
            isinstance(code, str) and code.startswith(RATE_LIMIT_PREFIXES) for code in codes
        )

    @property
    def is_retryable(self):
        """Worth retrying after a backoff: throttling or -1 "system busy"."""
        return self.is_rate_limit or bool(self._codes() & RETRYABLE_CODES)


class TokenError(APIError):
    """The access token was rejected even after a fresh one was fetched."""


class RateLimitError(APIError):
    """Still throttled (or busy) after all retries."""

    hint = (
        "DingTalk is throttling these calls (too many per second or per minute) and still was after the "
        "client slowed down and retried: wait a minute and try again."
    )


class CredentialsError(APIError):
    """AppKey/AppSecret (or login client id/secret) rejected: 40096, 40089, invalidClientIdOrSecret."""

    hint = "DingTalk does not accept this AppKey and AppSecret: copy both again from the developer console."


class PermissionDenied(APIError):
    """The app lacks the API permission (60011, 43007, Forbidden.AccessDenied.AccessTokenPermissionDenied)."""

    hint = "The app lacks this API's permission: grant it in the developer console and publish the app."


class IPNotAllowed(PermissionDenied):
    """The server's egress IP is not in the app's whitelist: 60020 (oapi, also as 88 with sub_code 60020),
    403 Forbidden.AccessDenied.IpNotInWhiteList (v1.0) [KB:API/0013-server-api-error-codes-1]."""

    @property
    def ip(self):
        """The address DingTalk saw ("request ip=…" in the message), or None when it does not say."""
        match = _REQUEST_IP.search(f"{self.errmsg} {self.sub_msg or ''}")
        try:
            return str(ipaddress.ip_address(match.group(1).rstrip("."))) if match else None
        except ValueError:  # "request ip=***.***.***.***" in the docs' samples
            return None

    @property
    def hint(self):
        address = self.ip or "this server's public (egress) IP address"
        return (
            f"DingTalk refuses calls from this server's IP address: add {address} to the app's IP whitelist "
            "(开发配置 → 安全设置 → 服务器出口IP)."
        )


class QuotaExceeded(APIError):
    """The organisation has used its monthly API calls: 90020 / Forbidden.AccessDenied.ApiCountLimitForOrg
    (standard edition: 5,000 calls a month to the APIs not on the exempt list; the access token, sign-in
    and contacts reads are exempt) [KB:API/1433-how-to-process-api-throttling-on-the-dingtalk-server,
    KB:API/1432-basic-interfaces-such-as-log-off-and-address-book]."""

    hint = (
        "The DingTalk organisation has used its monthly API calls (the free standard edition allows 5,000 "
        "a month): calls work again next month, or upgrade to DingTalk Professional (专业版)."
    )


class PagingError(APIError):
    """DingTalk refused a page request: 40069 page size, 40068 offset [KB:API/0013]."""

    @property
    def is_offset(self):
        """The offset was refused (40068), not the page size (40069)."""
        return PAGE_OFFSET_CODE in self._codes()

    @property
    def hint(self):
        if self.is_offset:
            return f"DingTalk refused the offset used to page through {self.api or 'a list'}."
        return f"DingTalk refused the page size used to read {self.api or 'a list'}: it may have lowered it."


class NotFound(APIError):
    """The user, department or role does not exist (any more): 60121, 33012, 60003, 33011."""


class OutsideScope(APIError):
    """The department (50004) or person (50002) is outside the app's contacts scope (通讯录权限范围):
    not an error of the call, simply not the app's to read (protocol §9.3)."""


# Contacts scope [KB:API/0013-server-api-error-codes-1, KB:API/0161-common-errors]: 50002 "请求的员工userid
# 不在授权范围内" (user/get), 50004 "请求的部门id不在授权范围内" (department/get, v2/user/list).
USER_OUTSIDE_SCOPE = 50002
DEPT_OUTSIDE_SCOPE = 50004


class AuthCodeError(APIError):
    """A login/auth code is unknown, expired or already used (40078, invalidAuthCode...)."""


_CLASS_BY_CODE = {
    40096: CredentialsError,
    40089: CredentialsError,
    "invalidClientIdOrSecret": CredentialsError,
    "invalid.client": CredentialsError,
    60011: PermissionDenied,
    43007: PermissionDenied,
    "Forbidden.AccessDenied.AccessTokenPermissionDenied": PermissionDenied,
    60020: IPNotAllowed,
    "Forbidden.AccessDenied.IpNotInWhiteList": IPNotAllowed,
    90020: QuotaExceeded,
    "Forbidden.AccessDenied.ApiCountLimitForOrg": QuotaExceeded,
    PAGE_SIZE_CODE: PagingError,
    PAGE_OFFSET_CODE: PagingError,
    60121: NotFound,
    33012: NotFound,
    60003: NotFound,
    33011: NotFound,
    50002: OutsideScope,
    50004: OutsideScope,
    40078: AuthCodeError,
    "invalidAuthCode": AuthCodeError,
}


def make_api_error(errcode, errmsg="", **kwargs):
    """Build the most specific :class:`APIError` subclass for ``errcode`` (and ``sub_code``)."""
    error = APIError(errcode, errmsg, **kwargs)
    if error.is_token_error:
        cls = TokenError
    elif error.is_retryable:
        cls = RateLimitError
    else:
        cls = next((_CLASS_BY_CODE[c] for c in error._codes() if c in _CLASS_BY_CODE), APIError)
    return error if cls is APIError else cls(errcode, errmsg, **kwargs)


class EventError(DingTalkError):
    """A decrypted event payload is not a JSON object with an event type."""
