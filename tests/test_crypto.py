"""Callback crypto against the official vectors of protocol §1.6, round trips and malformed input."""

import base64
import json
import random
import string
import struct

import pytest
from Crypto.Cipher import AES

from dingtalk import crypto as dt_crypto
from dingtalk.errors import (
    CryptoError,
    InvalidAESKey,
    InvalidBase64,
    InvalidLength,
    InvalidPadding,
    InvalidReceiver,
    InvalidSignature,
)

V1 = {
    "aes_key": "4g5j64qlyl3zvetqxz5jiocdr586fn2zvjpa8zls3ij",
    "token": "123456",
    "receiver": "suite4xxxxxxxxxxxxxxx",
    "signature": "5a65ceeef9aab2d149439f82dc191dd6c5cbe2c0",
    "timestamp": "1445827045067",
    "nonce": "nEXhMP4r",
    "encrypt": "1a3NBxmCFwkCJvfoQ7WhJHB+iX3qHPsc9JbaDznE1i03peOk1LaOQoRz3+nlyGNhwmwJ3vDMG+OzrHMeiZI7gTRWVdUBm"
    "fxjZ8Ej23JVYa9VrYeJ5as7XM/ZpulX8NEQis44w53h1qAgnC3PRzM7Zc/D6Ibr0rgUathB6zRHP8PYrfgnNOS9PhSBdHlegK+AG"
    "GanfwjXuQ9+0pZcy0w9lQ==",
    "plaintext": '{"EventType":"check_create_suite_url","Random":"LPIdSnlF",'
    '"TestSuiteKey":"suite4xxxxxxxxxxxxxxx"}',
    "random": b"hU3bEfGZZewzhG5a",
}
V2 = {
    "aes_key": "Yue0EfdN5900c1ce5cf6A152c63DDe1808a60c5ecd7",
    "token": "mryue",
    "receiver": "ding6ccabc44d2c8d38b",
    "signature": "03044561471240d4a14bb09372dfcfd4fd0e40cb",
    "timestamp": "1608001896814",
    "nonce": "WL4PK6yA",
    "encrypt": "0vJiX6vliEpwG3U45CtXqi+m8PXbQRARJ8p8BbDuD1EMTDf0jKpQ79QS93qEk7XHpP6u+oTTrd15NRPvNvmBKyDCYxx"
    "OK+HZeKju4yhELOFchzNukR+t8SB/qk4ROMu3",
    "plaintext": '{"EventType":"check_url"}',
    "random": b"l7Y3EcX2CU5w8av3",
}
V3 = {
    "aes_key": "o1w0aum42yaptlz8alnhwikjd3jenzt9cb9wmzptgus",
    "token": "tokenxxxx",
    "receiver": "dingxxxxxx",
    "signature": "f36f4ba5337d426c7d4bca0dbcb06b3ddc1388fc",
    "timestamp": "1605695694141",
    "nonce": "WelUQl6bCqcBa2fM",
    "encrypt": "X1VSe9cTJUMZu60d3kyLYTrBq5578ZRJtteU94wG0Q4Uk6E/wQYeJRIC0/UFW5Wkya1Ihz9oXAdLlyC9TRaqsQ==",
    "plaintext": "success",
    "random": None,  # not given by the source: recovered from the decrypted buffer in the test
}
V4 = {
    "aes_key": "1234567890123456789012345678901234567890123",
    "token": "123456",
    "receiver": "dingsnotzck6pm5veliw",
    "signature": "9a95a004dd16f5c307e849b994173f76aa26e5eb",
    "timestamp": "1614767836",
    "nonce": "A7Co0cJLMzIDtMMI",
    "encrypt": "YvkvaGe4hQxd3VxRmEty0dVlnCOAqwf56xwTRHDHoOURqhalbmBJQk5FNcRk42Gl5T0YQXZNwpwWSm1xAFJ5ZA==",
    "plaintext": "success",
    "random": b"dICkEDLj0eb6yAbc",
}
VECTORS = {"V1": V1, "V2": V2, "V3": V3, "V4": V4}


def make(vector, receiver=None):
    return dt_crypto.DingTalkCrypto(vector["token"], vector["aes_key"], receiver or vector["receiver"])


def raw_buffer(vector):
    """The decrypted, still padded buffer of a vector (independent of the code under test)."""
    key = base64.b64decode(vector["aes_key"] + "=")
    return AES.new(key, AES.MODE_CBC, iv=key[:16]).decrypt(base64.b64decode(vector["encrypt"]))


def encrypt_buffer(crypto, buffer):
    """Encrypt an arbitrary (already padded) buffer with the crypto's key, as an attacker could not."""
    return base64.b64encode(crypto._cipher().encrypt(buffer)).decode()


# --- official vectors ---


@pytest.mark.parametrize("name", VECTORS)
def test_vector_signature(name):
    vector = VECTORS[name]
    crypto = make(vector)
    assert crypto.signature(vector["timestamp"], vector["nonce"], vector["encrypt"]) == vector["signature"]
    crypto.verify(vector["signature"], vector["timestamp"], vector["nonce"], vector["encrypt"])


@pytest.mark.parametrize("name", VECTORS)
def test_vector_decrypt(name):
    vector = VECTORS[name]
    plaintext = make(vector).decrypt_request(
        vector["signature"], vector["timestamp"], vector["nonce"], vector["encrypt"]
    )
    assert plaintext == vector["plaintext"]
    buffer = raw_buffer(vector)
    assert buffer.endswith(vector["receiver"].encode() + bytes([buffer[-1]]) * buffer[-1])
    assert buffer[-1] > 16, "DingTalk pads to 32-byte blocks"


@pytest.mark.parametrize("name", VECTORS)
def test_vector_reencrypt_byte_for_byte(name):
    vector = VECTORS[name]
    prefix = vector["random"] or raw_buffer(vector)[:16]
    assert raw_buffer(vector)[:16] == prefix
    encrypted = make(vector).encrypt(vector["plaintext"], random_prefix=prefix)
    assert encrypted == vector["encrypt"]


def test_v4_success_response_fields():
    crypto = make(V4)
    response = crypto.encrypt_response("success", timestamp=V4["timestamp"], nonce=V4["nonce"])
    assert set(response) == {"msg_signature", "timeStamp", "nonce", "encrypt"}
    assert all(isinstance(value, str) for value in response.values())
    assert response["timeStamp"] == V4["timestamp"] and response["nonce"] == V4["nonce"]
    crypto.verify(response["msg_signature"], response["timeStamp"], response["nonce"], response["encrypt"])
    assert crypto.decrypt(response["encrypt"]) == "success"


def test_encrypt_response_defaults_are_fresh():
    crypto = make(V2)
    first, second = crypto.encrypt_response(), crypto.encrypt_response()
    assert len(first["nonce"]) == 16 and first["nonce"] != second["nonce"]
    assert first["timeStamp"].isdigit() and len(first["timeStamp"]) == 13
    assert first["encrypt"] != second["encrypt"], "random prefix differs per message"


# --- round trips ---

SAMPLES = [
    "",
    "success",
    '{"EventType":"user_add_org","UserId":["0134"]}',
    "钉钉通讯录同步：张三加入了研发部",
    "emoji 🎉🚀 and combining é",
    "x" * 100_000,
    "\x00\x01 control chars \n\t",
]


def random_text(rng, length):
    alphabet = string.printable + "中文字符钉钉通讯录" + "😀🎉🚀" + "\u00e9\u0301"
    return "".join(rng.choice(alphabet) for _ in range(length))


@pytest.mark.parametrize("plaintext", SAMPLES, ids=range(len(SAMPLES)))
def test_roundtrip_samples(plaintext):
    crypto = make(V4)
    encrypted = crypto.encrypt(plaintext)
    assert "\n" not in encrypted
    assert len(base64.b64decode(encrypted)) % 32 == 0
    assert crypto.decrypt(encrypted) == plaintext


def test_roundtrip_random_payloads_and_receivers():
    rng = random.Random(20240101)
    for _ in range(300):
        receiver = random_text(rng, rng.randint(1, 40))
        crypto = dt_crypto.DingTalkCrypto(random_text(rng, 8), dt_crypto.generate_aes_key(), receiver)
        plaintext = random_text(rng, rng.choice([0, 1, 15, 16, 31, 32, 33, rng.randint(0, 3000)]))
        encrypted = crypto.encrypt(plaintext)
        timestamp, nonce = str(rng.randint(0, 10**13)), random_text(rng, 16)
        signature = crypto.signature(timestamp, nonce, encrypted)
        assert crypto.decrypt_request(signature, timestamp, nonce, encrypted) == plaintext


def test_decrypt_accepts_extra_receivers():
    app_level = dt_crypto.DingTalkCrypto("t0k", V4["aes_key"], "dingCORPID")
    encrypted = app_level.encrypt("hello")
    other = dt_crypto.DingTalkCrypto("t0k", V4["aes_key"], "dingAPPKEY")
    with pytest.raises(InvalidReceiver):
        other.decrypt(encrypted)
    assert other.decrypt(encrypted, receiver_ids=["dingCORPID"]) == "hello"


def test_decrypt_tolerates_line_breaks_from_old_encoders():
    crypto = make(V1)
    wrapped = base64.encodebytes(base64.b64decode(V1["encrypt"])).decode()
    assert "\n" in wrapped
    assert crypto.decrypt(wrapped) == V1["plaintext"]


# --- aes keys ---


def test_generate_aes_key():
    keys = {dt_crypto.generate_aes_key() for _ in range(20)}
    assert len(keys) == 20
    for key in keys:
        assert dt_crypto.is_valid_aes_key(key)
        assert len(base64.b64decode(key + "=")) == 32


@pytest.mark.parametrize(
    "aes_key",
    ["", "short", "x" * 42, "x" * 44, "4g5j64qlyl3zvetqxz5jiocdr586fn2zvjpa8zls3i!", None, 12345, "中" * 43],
)
def test_invalid_aes_key(aes_key):
    assert not dt_crypto.is_valid_aes_key(aes_key)
    with pytest.raises(InvalidAESKey) as info:
        dt_crypto.DingTalkCrypto("token", aes_key, "receiver")
    assert info.value.code == 900004


# --- each malformation raises its own typed error ---


def test_wrong_signature():
    crypto = make(V2)
    bad = V2["signature"][:-1] + ("0" if V2["signature"][-1] != "0" else "1")
    for signature in (bad, "", None, V2["signature"].upper(), "签名"):
        with pytest.raises(InvalidSignature) as info:
            crypto.decrypt_request(signature, V2["timestamp"], V2["nonce"], V2["encrypt"])
        assert info.value.code == 900005


def test_signature_covers_every_field():
    crypto = make(V2)
    args = [V2["timestamp"], V2["nonce"], V2["encrypt"]]
    for index in range(3):
        changed = list(args)
        changed[index] += "1"
        with pytest.raises(InvalidSignature):
            crypto.verify(V2["signature"], *changed)
    with pytest.raises(InvalidSignature):
        dt_crypto.DingTalkCrypto("other", V2["aes_key"], V2["receiver"]).verify(V2["signature"], *args)


def test_verify_uses_compare_digest(monkeypatch):
    calls = []
    real = dt_crypto.hmac.compare_digest

    def spy(a, b):
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(dt_crypto.hmac, "compare_digest", spy)
    make(V2).verify(V2["signature"], V2["timestamp"], V2["nonce"], V2["encrypt"])
    assert calls


def test_wrong_receiver():
    with pytest.raises(InvalidReceiver) as info:
        make(V2, receiver="ding-someone-else").decrypt(V2["encrypt"])
    assert info.value.code == 900010


@pytest.mark.parametrize("encrypt", ["", "not base64!", "abc", "YWJj=YWJj", "ÿÿÿÿ", None, 42, b"", "中文"])
def test_bad_base64(encrypt):
    with pytest.raises(InvalidBase64) as info:
        make(V2).decrypt(encrypt)
    assert info.value.code == 900007


@pytest.mark.parametrize("size", [1, 15, 17, 33, 100])
def test_ciphertext_not_whole_blocks(size):
    with pytest.raises(InvalidLength) as info:
        make(V2).decrypt(base64.b64encode(b"x" * size).decode())
    assert info.value.code == 900009


def test_bad_padding():
    crypto = make(V2)
    buffer = bytes(raw_buffer(V2))
    for last in (0, 33, 255):
        with pytest.raises(InvalidPadding) as info:
            crypto.decrypt(encrypt_buffer(crypto, buffer[:-1] + bytes([last])))
        assert info.value.code == 900008
    inconsistent = buffer[:-2] + b"\x00" + buffer[-1:]  # last byte says 31, one pad byte is not
    with pytest.raises(InvalidPadding):
        crypto.decrypt(encrypt_buffer(crypto, inconsistent))


def test_bad_embedded_length():
    crypto = make(V2)
    buffer = bytearray(raw_buffer(V2))
    buffer[16:20] = struct.pack(">I", 10_000)
    with pytest.raises(InvalidLength) as info:
        crypto.decrypt(encrypt_buffer(crypto, bytes(buffer)))
    assert info.value.code == 900009
    short = b"0123456789abcdef" + bytes([16]) * 16  # 16-byte buffer: no room for the length field
    with pytest.raises(InvalidLength):
        crypto.decrypt(encrypt_buffer(crypto, short))


def test_message_not_utf8():
    crypto = make(V2)
    msg = b"\xff\xfe bad"
    buffer = b"R" * 16 + struct.pack(">I", len(msg)) + msg + V2["receiver"].encode()
    with pytest.raises(InvalidPadding):
        crypto.decrypt(encrypt_buffer(crypto, dt_crypto._pad(buffer)))


def test_errors_are_distinct_types():
    classes = [InvalidAESKey, InvalidSignature, InvalidBase64, InvalidPadding, InvalidLength, InvalidReceiver]
    assert len({cls.code for cls in classes}) == len(classes)
    assert all(issubclass(cls, CryptoError) for cls in classes)


def garbage(rng):
    """Many shapes of hostile ``encrypt`` values."""
    kind = rng.randrange(7)
    if kind == 0:
        return base64.b64encode(rng.randbytes(rng.randrange(0, 200))).decode()
    if kind == 1:
        return base64.b64encode(rng.randbytes(16 * rng.randrange(1, 12))).decode()
    if kind == 2:
        return "".join(rng.choice(string.printable) for _ in range(rng.randrange(0, 80)))
    if kind == 3:
        return rng.randbytes(rng.randrange(0, 64))
    if kind == 4:
        return rng.choice([None, 0, 1.5, [], {}, ("a",), object()])
    if kind == 5:
        return "".join(chr(rng.randrange(0x80, 0x10FFFF)) for _ in range(rng.randrange(1, 20)))
    flipped = bytearray(base64.b64decode(V2["encrypt"]))
    flipped[rng.randrange(len(flipped))] ^= 1 << rng.randrange(8)
    return base64.b64encode(bytes(flipped)).decode()


def test_garbage_only_raises_crypto_errors():
    """Hostile input raises CryptoError subclasses and nothing else (a correctly signed bit flip may even
    decrypt: the signature, not the cipher, is the integrity check)."""
    crypto = make(V2)
    rng = random.Random(7)
    seen = []
    for _ in range(3000):
        value = garbage(rng)
        signature = crypto.signature(V2["timestamp"], V2["nonce"], value)
        try:
            crypto.decrypt_request(signature, V2["timestamp"], V2["nonce"], value)
        except CryptoError as error:
            seen.append(type(error))
        with pytest.raises(InvalidSignature):
            crypto.decrypt_request(value, value, value, V2["encrypt"])
    assert len(seen) > 2900
    assert {InvalidBase64, InvalidLength, InvalidPadding} <= set(seen)


def test_callback_params_accepts_both_spellings():
    assert dt_crypto.callback_params({"signature": "s", "timestamp": "1", "nonce": "n"}) == ("s", "1", "n")
    new = {"msg_signature": "s2", "timeStamp": "2", "nonce": "n"}
    assert dt_crypto.callback_params(new) == ("s2", "2", "n")


def test_repr_hides_secrets():
    crypto = make(V2)
    assert V2["token"] not in repr(crypto) and V2["aes_key"] not in repr(crypto)


def test_check_url_plaintext_is_json():
    assert json.loads(make(V2).decrypt(V2["encrypt"])) == {"EventType": "check_url"}
