"""DingTalk HTTP-push callback crypto (protocol §1).

AES-256-CBC with key ``b64decode(aes_key + "=")`` and IV ``key[:16]``, PKCS#7 padding to 32-byte blocks,
plaintext buffer ``random(16) + len(4, big-endian) + msg + receiver_id``, Base64 without line breaks,
signature ``sha1("".join(sorted([token, timestamp, nonce, encrypt])))``.
"""

import base64
import binascii
import hashlib
import hmac
import re
import secrets
import string
import struct
import time

from Crypto.Cipher import AES

from .errors import (
    InvalidAESKey,
    InvalidBase64,
    InvalidLength,
    InvalidPadding,
    InvalidReceiver,
    InvalidSignature,
)

PAD_BLOCK = 32
_ALNUM = string.ascii_letters + string.digits
_AES_KEY_RE = re.compile(r"[A-Za-z0-9]{43}")


def _random_text(length=16):
    return "".join(secrets.choice(_ALNUM) for _ in range(length))


def generate_aes_key():
    """A fresh 43-character aes_key, as the DingTalk console generates them."""
    return _random_text(43)


def is_valid_aes_key(aes_key):
    """True when ``aes_key`` is 43 letters/digits (the form the DingTalk console accepts)."""
    return isinstance(aes_key, str) and bool(_AES_KEY_RE.fullmatch(aes_key))


def _text(value):
    return value if isinstance(value, str) else str(value)


def callback_params(query):
    """``(signature, timestamp, nonce)`` from a callback query, accepting both spellings (§1.5).

    DingTalk sends ``signature``/``timestamp``; newer docs read ``msg_signature``/``timeStamp``.
    """
    signature = query.get("msg_signature") or query.get("signature")
    timestamp = query.get("timeStamp") or query.get("timestamp")
    return signature, timestamp, query.get("nonce")


def _pad(data):
    size = PAD_BLOCK - len(data) % PAD_BLOCK
    return data + bytes([size]) * size


def _unpad(data):
    size = data[-1]
    if not 1 <= size <= PAD_BLOCK or size > len(data) or data[-size:] != bytes([size]) * size:
        raise InvalidPadding("bad PKCS#7 padding in the decrypted callback")
    return data[:-size]


def _b64decode(encrypt):
    if isinstance(encrypt, str):
        encrypt = encrypt.encode("ascii", "replace")  # a non-ASCII char becomes "?" and fails below
    if not isinstance(encrypt, bytes) or not encrypt:
        raise InvalidBase64("the encrypt value is missing")
    try:
        # Tolerate the line breaks that some older encoders insert; otherwise strict standard Base64.
        return base64.b64decode(b"".join(encrypt.split()), validate=True)
    except binascii.Error:
        raise InvalidBase64("the encrypt value is not valid Base64") from None


def _split_buffer(buffer):
    """Split ``random(16) + len(4) + msg + receiver`` into (msg, receiver) bytes."""
    if len(buffer) < 20:
        raise InvalidLength("decrypted callback is shorter than its 20-byte header")
    (msg_len,) = struct.unpack(">I", buffer[16:20])
    if 20 + msg_len > len(buffer):
        raise InvalidLength("message length in the decrypted callback exceeds the buffer")
    return buffer[20 : 20 + msg_len], buffer[20 + msg_len :]


class DingTalkCrypto:
    """Sign, verify, encrypt and decrypt DingTalk callbacks for one subscription.

    ``receiver_id`` is the owner key: the AppKey for console event subscriptions, the CorpId for
    ``register_call_back`` callbacks, the suiteKey for ISV apps (§1.3).
    """

    def __init__(self, token, aes_key, receiver_id):
        if not is_valid_aes_key(aes_key):
            raise InvalidAESKey("the aes_key must be 43 letters or digits")
        self.token = token
        self.receiver_id = receiver_id
        self._key = base64.b64decode(aes_key + "=")

    def __repr__(self):
        return f"<DingTalkCrypto receiver_id={self.receiver_id!r}>"

    def _cipher(self):
        return AES.new(self._key, AES.MODE_CBC, iv=self._key[:16])

    def signature(self, timestamp, nonce, encrypt):
        """sha1 hex of the sorted concatenation of token, timestamp, nonce and encrypt."""
        parts = sorted(_text(part) for part in (self.token, timestamp, nonce, encrypt))
        return hashlib.sha1("".join(parts).encode("utf-8", "surrogatepass")).hexdigest()

    def verify(self, signature, timestamp, nonce, encrypt):
        """Raise :class:`InvalidSignature` unless ``signature`` signs the other three values."""
        if not isinstance(signature, str) or not signature:
            raise InvalidSignature("the callback signature is missing")
        expected = self.signature(timestamp, nonce, encrypt).encode()
        if not hmac.compare_digest(expected, signature.encode("utf-8", "surrogatepass")):
            raise InvalidSignature("the callback signature does not match")

    def encrypt(self, plaintext, random_prefix=None):
        """Encrypt ``plaintext`` for this receiver; Base64 without line breaks.

        ``random_prefix`` (16 bytes) is only for reproducing known vectors; by default it is random.
        """
        if random_prefix is None:
            random_prefix = _random_text(16).encode()
        elif isinstance(random_prefix, str):
            random_prefix = random_prefix.encode()
        if len(random_prefix) != 16:
            raise ValueError("random_prefix must be 16 bytes")
        msg = plaintext.encode("utf-8")
        buffer = random_prefix + struct.pack(">I", len(msg)) + msg + self.receiver_id.encode("utf-8")
        return base64.b64encode(self._cipher().encrypt(_pad(buffer))).decode("ascii")

    def decrypt(self, encrypt, receiver_ids=None):
        """Decrypt ``encrypt`` and return the message text.

        The receiver id inside must be ``receiver_id`` or one of ``receiver_ids`` (e.g. accept both the
        AppKey and the CorpId). Only :class:`CryptoError` subclasses are raised.
        """
        data = _b64decode(encrypt)
        if not data or len(data) % AES.block_size:
            raise InvalidLength("the encrypted callback is not a whole number of AES blocks")
        msg, receiver = _split_buffer(_unpad(self._cipher().decrypt(data)))
        allowed = {self.receiver_id, *(receiver_ids or ())}
        if receiver.decode("utf-8", "replace") not in allowed:
            raise InvalidReceiver("the callback is addressed to another receiver id")
        try:
            return msg.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidPadding("the decrypted callback message is not UTF-8") from None

    def decrypt_request(self, signature, timestamp, nonce, encrypt, receiver_ids=None):
        """Verify the signature of a pushed callback, then decrypt it."""
        self.verify(signature, timestamp, nonce, encrypt)
        return self.decrypt(encrypt, receiver_ids)

    def encrypt_response(self, plaintext="success", timestamp=None, nonce=None):
        """The JSON body DingTalk expects back: ``msg_signature``, ``timeStamp``, ``nonce``, ``encrypt``."""
        timestamp = _text(timestamp) if timestamp is not None else str(int(time.time() * 1000))
        nonce = _text(nonce) if nonce is not None else _random_text(16)
        encrypt = self.encrypt(plaintext)
        return {
            "msg_signature": self.signature(timestamp, nonce, encrypt),
            "timeStamp": timestamp,
            "nonce": nonce,
            "encrypt": encrypt,
        }
