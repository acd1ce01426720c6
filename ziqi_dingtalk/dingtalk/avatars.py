"""Profile pictures: download the images whose URLs DingTalk gives as ``avatar`` (plain Python, no database).

``topapi/v2/user/get`` and ``topapi/v2/user/list`` carry ``avatar``, the URL of the person's photo on
DingTalk's static CDN; a person with DingTalk's default picture has none (user/get:
"员工使用默认头像，不返回该字段，手动设置头像会返回" [KB:API/0056-query-user-details];
[KB:API/0062-queries-the-complete-information-of-a-department-user]). A new photo is a new URL, so a URL
once downloaded need not be fetched again.

``download_avatars`` fetches many at once in a small bounded pool whose threads only do HTTP and hand bytes
back. What comes back is checked before anyone stores it: the answer must be HTTP 200 with an ``image/*``
content type (SVG refused: it is no photo and may carry scripts), at most ``max_bytes`` read in a streamed way
(the declared Content-Length is not trusted), its first bytes must be those of a JPEG, PNG, GIF or WebP file,
and, in the caller's thread, Pillow (when installed) must decode it within ``max_pixels``. Nothing raises:
every URL ends in ``images`` or ``failures``.
"""

import logging
import threading
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from io import BytesIO

import requests
from requests.adapters import HTTPAdapter

_logger = logging.getLogger(__name__)

MAX_BYTES = 5 * 1024 * 1024
MAX_PIXELS = 50_000_000  # Odoo's own limit for an image field (odoo.tools.image.IMAGE_MAX_RESOLUTION)
TIMEOUT = 10.0  # seconds for one download, all of it
WORKERS = 4
GIVE_UP_AFTER = 5  # network failures (with no success) after which the rest of a call is not tried
CHUNK = 64 * 1024
SVG_TYPES = ("image/svg+xml", "image/svg")
_PILLOW_FORMATS = {"jpeg": "JPEG", "png": "PNG", "gif": "GIF", "webp": "WEBP"}


@dataclass(frozen=True)
class AvatarFailure:
    """Why one picture was not downloaded. ``code``: ``bad_url``, ``http_status``, ``content_type``,
    ``too_big``, ``not_image``, ``timeout``, ``network``, ``error`` (unexpected, logged with its traceback)
    or ``skipped`` (not tried: the call gave up after repeated network failures); ``detail``: the status,
    type, size or error, for the log."""

    code: str
    detail: str = ""

    def __str__(self):
        return f"{self.code}: {self.detail}" if self.detail else self.code


class _Failed(Exception):
    def __init__(self, code, detail=""):
        super().__init__(code, detail)
        self.failure = AvatarFailure(code, str(detail))


def image_format(data):
    """``"jpeg"``, ``"png"``, ``"gif"`` or ``"webp"`` from the first bytes of ``data``, else None."""
    if data[:3] == b"\xff\xd8\xff":
        return "jpeg"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "png"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    return None


def download_avatars(
    urls,
    *,
    workers=WORKERS,
    max_bytes=MAX_BYTES,
    timeout=TIMEOUT,
    session=None,
    give_up_after=GIVE_UP_AFTER,
    max_pixels=MAX_PIXELS,
):
    """Download ``urls`` (key → URL; empty URLs are left out) → ``(images, failures)``: key → image bytes,
    key → ``AvatarFailure``. A URL shared by several keys is fetched once. ``timeout`` bounds each download
    as a whole (connecting, each read, and the total). After ``give_up_after`` timeouts or connection
    failures without a single success, the downloads not started yet fail as ``skipped`` (an unreachable
    CDN costs a few timeouts, not one per person)."""
    keys_by_url = {}
    for key, url in urls.items():
        if url:
            keys_by_url.setdefault(url, []).append(key)
    images, failures = {}, {}
    if not keys_by_url:
        return images, failures
    own_session = session is None
    if own_session:
        session = _session(workers)
    breaker = _Breaker(give_up_after)
    try:
        with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="dingtalk-avatar") as pool:
            outcomes = pool.map(
                lambda url: _fetch(session, url, max_bytes, timeout, breaker), list(keys_by_url)
            )
            fetched = dict(zip(keys_by_url, outcomes, strict=True))
    finally:
        if own_session:
            session.close()
    for url, outcome in fetched.items():
        if isinstance(outcome, bytes):  # decoded here, in the caller's thread: the pool only does HTTP
            outcome = _check_decodes(outcome, max_pixels)
        for key in keys_by_url[url]:
            if isinstance(outcome, bytes):
                images[key] = outcome
            else:
                failures[key] = outcome
    return images, failures


def _session(workers):
    session = requests.Session()
    adapter = HTTPAdapter(pool_connections=2, pool_maxsize=max(1, workers))
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    session.max_redirects = 3  # a CDN may redirect once or twice; never a chain
    return session


class _Breaker:
    """Counts network failures across the pool's threads; open once ``limit`` of them came with no success."""

    def __init__(self, limit):
        self.limit = limit
        self.failures = 0
        self.successes = 0
        self.lock = threading.Lock()

    def open(self):
        with self.lock:
            return bool(self.limit) and not self.successes and self.failures >= self.limit

    def record(self, network_failure):
        with self.lock:
            if network_failure:
                self.failures += 1
            else:
                self.successes += 1


def _fetch(session, url, max_bytes, timeout, breaker):
    """One download (in a pool thread: HTTP only) → the bytes or an ``AvatarFailure``."""
    if breaker.open():
        return AvatarFailure("skipped", "repeated network failures")
    try:
        data = _get(session, url, max_bytes, timeout)
    except _Failed as failed:
        breaker.record(failed.failure.code in ("timeout", "network"))
        return failed.failure
    except Exception as error:  # a bug, or a library's surprise: a failed picture all the same, never more
        _logger.warning("DingTalk: downloading a picture failed unexpectedly", exc_info=True)
        return AvatarFailure("error", type(error).__name__)
    breaker.record(False)
    return data


def _get(session, url, max_bytes, timeout):
    if not str(url).lower().startswith(("https://", "http://")):
        raise _Failed("bad_url", "not an http(s) URL")
    deadline = time.monotonic() + timeout
    try:
        with session.get(
            # one number, for connecting and for each read (a (connect, read) pair is valid requests, but
            # wrappers of Session.send, Odoo's tests among them, expect a number)
            url,
            stream=True,
            timeout=timeout,
            allow_redirects=True,
        ) as response:
            if response.status_code != 200:
                raise _Failed("http_status", response.status_code)
            _check_type(response.headers.get("Content-Type"))
            declared = response.headers.get("Content-Length")
            if declared and declared.isdigit() and int(declared) > max_bytes:
                raise _Failed("too_big", f"{declared} bytes")
            return _read(response, max_bytes, deadline)
    except requests.Timeout as error:
        raise _Failed("timeout", type(error).__name__) from error
    except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError) as error:
        raise _Failed("network", type(error).__name__) from error
    except (requests.RequestException, ValueError, UnicodeError) as error:  # invalid URL, redirect loop...
        raise _Failed("bad_url", type(error).__name__) from error


def _check_type(content_type):
    mimetype = (content_type or "").split(";", 1)[0].strip().lower()
    if not mimetype.startswith("image/") or mimetype in SVG_TYPES:
        raise _Failed("content_type", mimetype or "none")


def _read(response, max_bytes, deadline):
    """The body, streamed: at most ``max_bytes`` are ever held, whatever the headers said."""
    body = bytearray()
    for chunk in response.iter_content(CHUNK):
        body += chunk
        if len(body) > max_bytes:
            raise _Failed("too_big", f"more than {max_bytes} bytes")
        if time.monotonic() > deadline:
            raise _Failed("timeout", "body too slow")
    data = bytes(body)
    if image_format(data) is None:
        raise _Failed("not_image", "not a JPEG, PNG, GIF or WebP file")
    return data


def _check_decodes(data, max_pixels):
    """``data`` when Pillow decodes it whole within ``max_pixels`` (or Pillow is not installed), else an
    ``AvatarFailure``: right first bytes on a truncated or corrupt file are caught here."""
    try:
        from PIL import Image
    except ImportError:  # Odoo always has Pillow; the plain layer does not need it
        return data
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(BytesIO(data), formats=[_PILLOW_FORMATS[image_format(data)]]) as image:
                width, height = image.size
                if width * height > max_pixels:
                    return AvatarFailure("not_image", f"{width}x{height} pixels")
                image.load()
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError, Image.DecompressionBombWarning):
        return AvatarFailure("not_image", "cannot be decoded")
    return data
