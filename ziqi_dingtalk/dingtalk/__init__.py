"""Plain-Python DingTalk protocol layer: callback crypto, API client, event parsing.

This package knows DingTalk only; it never imports odoo.
"""

from .client import DingTalkClient, MemoryTokenStore, TokenStore
from .crypto import DingTalkCrypto, callback_params, generate_aes_key, is_valid_aes_key
from .errors import (
    APIError,
    AuthCodeError,
    CredentialsError,
    CryptoError,
    DingTalkError,
    EventError,
    InvalidAESKey,
    InvalidBase64,
    InvalidLength,
    InvalidPadding,
    InvalidReceiver,
    InvalidSignature,
    IPNotAllowed,
    NotFound,
    PermissionDenied,
    RateLimitError,
    TokenError,
    TransportError,
)
from .events import Event, parse_event, parse_stream_event
from .ratelimit import RateLimiter

__all__ = [
    "APIError",
    "AuthCodeError",
    "CredentialsError",
    "CryptoError",
    "DingTalkClient",
    "DingTalkCrypto",
    "DingTalkError",
    "Event",
    "EventError",
    "IPNotAllowed",
    "InvalidAESKey",
    "InvalidBase64",
    "InvalidLength",
    "InvalidPadding",
    "InvalidReceiver",
    "InvalidSignature",
    "MemoryTokenStore",
    "NotFound",
    "PermissionDenied",
    "RateLimitError",
    "RateLimiter",
    "TokenError",
    "TokenStore",
    "TransportError",
    "callback_params",
    "generate_aes_key",
    "is_valid_aes_key",
    "parse_event",
    "parse_stream_event",
]
