"""DingTalk HTTP-push callback crypto (protocol §1.2-1.5), written with ``cryptography``.

Independent of the addon's implementation on purpose: each one checks the other.
"""

import base64
import hashlib
import hmac
import secrets
import string
import struct
import time

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

BLOCK = 32
_ALNUM = string.ascii_letters + string.digits


class CallbackCryptoError(Exception):
    """Raised when a callback message does not verify or decrypt."""


def random_alnum(length=16):
    return "".join(secrets.choice(_ALNUM) for _ in range(length))


def sha1_signature(token, timestamp, nonce, encrypt):
    parts = sorted([str(token), str(timestamp), str(nonce), str(encrypt)])
    return hashlib.sha1("".join(parts).encode()).hexdigest()


class CallbackCrypto:
    """AES-256-CBC, IV = key[:16], PKCS#7 over 32-byte blocks, SHA-1 signature of 4 sorted strings."""

    def __init__(self, token, aes_key, receiver_id):
        if len(aes_key or "") != 43:
            raise CallbackCryptoError("aes_key must be 43 characters")
        self.token = token
        self.key = base64.b64decode(aes_key + "=")
        self.receiver_id = receiver_id

    def _cipher(self):
        return Cipher(algorithms.AES(self.key), modes.CBC(self.key[:16]))

    def signature(self, timestamp, nonce, encrypt):
        return sha1_signature(self.token, timestamp, nonce, encrypt)

    def verify(self, signature, timestamp, nonce, encrypt):
        expected = self.signature(timestamp, nonce, encrypt)
        if not hmac.compare_digest(expected, str(signature or "")):
            raise CallbackCryptoError("signature mismatch")

    def encrypt(self, plaintext, random_prefix=None, receiver_id=None):
        msg = plaintext.encode()
        prefix = random_prefix if random_prefix is not None else random_alnum(16).encode()
        receiver = self.receiver_id if receiver_id is None else receiver_id
        buf = prefix + struct.pack(">I", len(msg)) + msg + receiver.encode()
        pad = BLOCK - len(buf) % BLOCK
        buf += bytes([pad]) * pad
        enc = self._cipher().encryptor()
        return base64.b64encode(enc.update(buf) + enc.finalize()).decode()

    def decrypt_buffer(self, encrypt):
        try:
            raw = base64.b64decode(encrypt, validate=True)
        except ValueError as exc:
            raise CallbackCryptoError("bad base64") from exc
        if not raw or len(raw) % 16:
            raise CallbackCryptoError("bad ciphertext length")
        dec = self._cipher().decryptor()
        buf = dec.update(raw) + dec.finalize()
        pad = buf[-1]
        if not 1 <= pad <= BLOCK or len(buf) < 20 + pad:
            raise CallbackCryptoError("bad padding")
        return buf[:-pad]

    def decrypt(self, encrypt, receiver_ids=None):
        buf = self.decrypt_buffer(encrypt)
        (length,) = struct.unpack(">I", buf[16:20])
        if 20 + length > len(buf):
            raise CallbackCryptoError("bad length")
        receiver = buf[20 + length :].decode(errors="replace")
        allowed = {self.receiver_id, *(receiver_ids or ())}
        if receiver not in allowed:
            raise CallbackCryptoError("receiver mismatch")
        return buf[20 : 20 + length].decode()

    def decrypt_request(self, signature, timestamp, nonce, encrypt):
        self.verify(signature, timestamp, nonce, encrypt)
        return self.decrypt(encrypt)

    def encrypt_response(self, plaintext="success", timestamp=None, nonce=None):
        timestamp = str(timestamp or int(time.time() * 1000))
        nonce = nonce or random_alnum(16)
        encrypt = self.encrypt(plaintext)
        return {
            "msg_signature": self.signature(timestamp, nonce, encrypt),
            "timeStamp": timestamp,
            "nonce": nonce,
            "encrypt": encrypt,
        }
