"""Typed errors of the DingTalk protocol layer.

Everything raised on purpose by this package is a :class:`DingTalkError`. Messages never contain a
secret, an access token or an auth code, so they can be logged and shown to administrators.
"""


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
RETRYABLE_CODES = frozenset({90018, 90002, -1})
RATE_LIMIT_CODES = frozenset({90018, 90002})
RATE_LIMIT_PREFIXES = ("Forbidden.AccessDenied.Qps", "Forbidden.AccessDenied.Qpm")


class APIError(DingTalkError):
    """DingTalk answered with an error.

    ``errcode`` is the int ``errcode`` of oapi (topapi) answers or the string ``code`` of
    api.dingtalk.com/v1.0 answers; ``sub_code`` is the (string) sub code that oapi wraps into errcode 88.
    """

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


class CredentialsError(APIError):
    """AppKey/AppSecret (or login client id/secret) rejected: 40096, 40089, invalidClientIdOrSecret."""


class PermissionDenied(APIError):
    """The app lacks the API permission (60011, 43007, Forbidden.AccessDenied.AccessTokenPermissionDenied)."""


class IPNotAllowed(PermissionDenied):
    """The server's egress IP is not in the app's whitelist (60020)."""


class NotFound(APIError):
    """The user, department or role does not exist (any more): 60121, 33012, 60003, 33011."""


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
    60121: NotFound,
    33012: NotFound,
    60003: NotFound,
    33011: NotFound,
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
