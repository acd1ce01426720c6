"""Profile pictures: the sandbox's stand-in for DingTalk's static CDN.

DingTalk gives a person's photo as ``avatar`` in ``topapi/v2/user/get`` and ``topapi/v2/user/list``: the URL
of an image on its static CDN (``https://static-legacy.dingtalk.com/media/...jpg`` in public captures); a
person with the default picture gets no ``avatar`` at all
("员工使用默认头像，不返回该字段，手动设置头像会返回" [KB:API/0056-query-user-details];
[KB:API/0062-queries-the-complete-information-of-a-department-user]).
A new photo is a new file, hence a new URL; the CDN needs no token.

Here a person's ``avatar`` is stored as a path, ``/_static/avatar/<userid>-<version>.png``, made absolute
with the base URL the client called when the sandbox answers (``absolute``); the sandbox serves it as a
small solid-colour PNG made in pure Python (zlib + struct), its colour drawn from the userid and version.
Calls are counted under ``/_static/avatar`` in ``/_sandbox/stats``.

Faults (``POST /_sandbox/faults``, ``path`` = ``/_static/avatar`` for every picture or one picture's path;
the ``*`` rules of the API never apply here, and pictures never count towards their ``after``):

    {"http_status": 404}                          that status with an HTML page (404, 403, 500...)
    {"http_status": 200, "content_type": "text/html"}   the real PNG under another type
    {"body": "<html>...</html>", "content_type": "text/html"}   this body (default type image/png)
    {"http_status": 200, "size": 6000000}         a PNG start padded to ``size`` bytes, streamed without
                                                  Content-Length (``"content_length": true`` declares it)
    {"http_status": 200, "truncate": 40}          only the first bytes of the real PNG (right magic, broken)
    {"http_status": 200, "delay": 3}              the real PNG after ``delay`` seconds
"""

import hashlib
import re
import struct
import time
import zlib

from werkzeug.wrappers import Response

PREFIX = "/_static/avatar"
PATH_RE = re.compile(r"^/_static/avatar/(?P<userid>[^/]+)-(?P<version>\d+)\.png$")
NO_AVATAR = 0.15  # share of generated people who keep DingTalk's default picture (no ``avatar``)
SIZE = 96  # pixels (DingTalk's are larger; a small one keeps big organisations light)
_NOT_FOUND = b"<html><head><title>404 Not Found</title></head><body><h1>404 Not Found</h1></body></html>"


def avatar_path(userid, version=1):
    return f"{PREFIX}/{userid}-{int(version)}.png"


def next_path(userid, current):
    """The path of a person's next photo: the version after the current one."""
    match = PATH_RE.match(current or "")
    return avatar_path(userid, int(match["version"]) + 1 if match else 1)


def absolute(base, value):
    """A stored avatar as the client sees it: a path becomes ``base`` + path; a full URL stays as it is."""
    if value and value.startswith("/"):
        return base.rstrip("/") + value
    return value


def assign(people, rng, share_without=NO_AVATAR):
    """Give most ``people`` a photo (version 1); the others keep the default picture (no ``avatar``)."""
    for user in people:
        user.avatar = avatar_path(user.userid) if rng.random() >= share_without else None


def png(width, height, rgb):
    """A solid-colour RGB PNG: signature, IHDR, one IDAT (zlib), IEND."""

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    row = b"\x00" + bytes(rgb) * width  # filter type 0, then the pixels
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8 bits, truecolour
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(row * height, 9))
        + chunk(b"IEND", b"")
    )


def picture(userid, version):
    digest = hashlib.sha1(f"{userid}-{version}".encode()).digest()
    return png(SIZE, SIZE, (64 + digest[0] % 160, 64 + digest[1] % 160, 64 + digest[2] % 160))


def serve(sb, request, path):
    """``GET /_static/avatar/<userid>-<version>.png``: the picture of a known person (earlier versions too:
    a CDN keeps old files), else 404."""
    sb.stats.call(PREFIX)
    if sb.latency_ms:
        time.sleep(sb.latency_ms / 1000.0)
    match = PATH_RE.match(path)
    with sb.lock:
        known = bool(match) and match["userid"] in sb.org.users
    fault = sb.faults.take(path, wildcard=PREFIX)  # ``*`` rules are for the APIs, not pictures
    if fault is not None:
        return _fault_response(fault, match)
    if request.method not in ("GET", "HEAD") or not known:
        return Response(_NOT_FOUND, status=404, content_type="text/html")
    return _png_response(picture(match["userid"], match["version"]))


def _png_response(data, content_type="image/png"):
    return Response(data, content_type=content_type, headers={"Cache-Control": "max-age=31536000"})


def _fault_response(fault, match):
    status = int(fault.get("http_status") or 200)
    if fault.get("delay"):
        time.sleep(float(fault["delay"]))
    content_type = fault.get("content_type") or "image/png"
    if fault.get("body") is not None:
        body = fault["body"]
        return Response(
            body.encode() if isinstance(body, str) else body, status=status, content_type=content_type
        )
    if status != 200:
        return Response(
            _NOT_FOUND.replace(b"404 Not Found", b"%d" % status), status=status, content_type="text/html"
        )
    data = picture(match["userid"], match["version"]) if match else png(1, 1, (0, 0, 0))
    if fault.get("truncate"):
        return _png_response(data[: int(fault["truncate"])], content_type)
    if fault.get("size"):
        return _padded(data, int(fault["size"]), content_type, bool(fault.get("content_length")))
    return _png_response(data, content_type)


def _padded(data, size, content_type, declare):
    """``size`` bytes starting with a real PNG, sent in chunks (chunked transfer unless ``declare``)."""

    def body():
        yield data
        left = max(0, size - len(data))
        block = b"\x00" * 65536
        while left > 0:
            yield block[: min(left, len(block))]
            left -= len(block)

    headers = {"Content-Length": str(max(size, len(data)))} if declare else None
    return Response(body(), content_type=content_type, headers=headers, direct_passthrough=True)
