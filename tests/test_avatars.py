"""Profile pictures: the sandbox's static CDN (``dingtalk_sandbox/avatars.py``) and the downloader of the
protocol layer (``dingtalk/avatars.py``), which talks HTTP to the sandbox on loopback."""

import io
import socket
import struct
import zlib

import pytest
import requests
from PIL import Image

from dingtalk import avatars as dt_avatars
from dingtalk_sandbox import Org, Sandbox, generate, start_in_thread
from dingtalk_sandbox import avatars as sb_avatars

APP = {"appkey": "dingsandboxappkey0001", "appsecret": "sandbox-app-secret"}
PREFIX = "/_static/avatar"


def small_org():
    users = [
        {
            "userid": f"u{n}",
            "name": f"用户{n}",
            "dept_id_list": [1],
            "avatar": sb_avatars.avatar_path(f"u{n}"),
        }
        for n in range(6)
    ]
    users.append({"userid": "plain", "name": "默认头像", "dept_id_list": [1]})  # DingTalk's default picture
    return {"departments": [{"dept_id": 1, "name": "公司"}], "users": users}


@pytest.fixture(scope="module")
def server():
    sandbox = Sandbox(Org.from_json(small_org()), qps=0)
    http, url = start_in_thread(sandbox)
    sandbox.url = url
    yield sandbox
    http.shutdown()
    http.server_close()


@pytest.fixture
def sb(server):
    """The module's sandbox with its faults and stats cleared, and the organisation of ``small_org``."""
    ctl(server, "reset", {"org": small_org()})
    return server


def ctl(sb, path, body=None):
    if body is None:
        return requests.get(f"{sb.url}/_sandbox/{path}", timeout=10).json()
    return requests.post(f"{sb.url}/_sandbox/{path}", json=body, timeout=10).json()


def fault(sb, path=PREFIX, **rule):
    answer = ctl(sb, "faults", dict(rule, path=path))
    assert answer["ok"], answer


def downloads(sb):
    return ctl(sb, "stats")["calls"].get(PREFIX, 0)


def user_get(sb, userid):
    tok = requests.get(f"{sb.url}/gettoken", params=APP, timeout=5).json()["access_token"]
    answer = requests.post(
        f"{sb.url}/topapi/v2/user/get", params={"access_token": tok}, json={"userid": userid}, timeout=5
    )
    return answer.json()["result"]


def urls(sb, *userids):
    return {userid: user_get(sb, userid)["avatar"] for userid in userids}


def decode(data):
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        return image.format, image.size, image.getpixel((0, 0))


# ----- the sandbox ---------------------------------------------------------------------------------


def test_generated_people_mostly_have_a_photo_and_some_the_default():
    org = generate(users=400, departments=10, seed=3)
    with_photo = [u for u in org.users.values() if u.avatar]
    assert 0.75 * len(org.users) < len(with_photo) < len(org.users)
    assert all(sb_avatars.PATH_RE.match(u.avatar)["userid"] == u.userid for u in with_photo)
    again = generate(users=400, departments=10, seed=3)
    assert {u.userid: u.avatar for u in again.users.values()} == {
        u.userid: u.avatar for u in org.users.values()
    }


def test_answers_carry_an_absolute_avatar_url_or_none(sb):
    person = user_get(sb, "u1")
    assert person["avatar"] == f"{sb.url}{PREFIX}/u1-1.png"
    assert "avatar" not in user_get(sb, "plain"), "the default picture: no avatar field [KB:API/0056]"
    tok = requests.get(f"{sb.url}/gettoken", params=APP, timeout=5).json()["access_token"]
    listed = requests.post(
        f"{sb.url}/topapi/v2/user/list",
        params={"access_token": tok},
        json={"dept_id": 1, "cursor": 0, "size": 100},
        timeout=5,
    ).json()["result"]["list"]
    by_id = {item["userid"]: item for item in listed}
    assert by_id["u1"]["avatar"] == person["avatar"]
    assert "avatar" not in by_id["plain"]
    assert ctl(sb, "org")["users"][1]["avatar"] == f"{PREFIX}/u1-1.png", "stored as a path"


def test_the_picture_is_a_real_png_of_the_person(sb):
    answer = requests.get(user_get(sb, "u1")["avatar"], timeout=5)
    assert answer.status_code == 200
    assert answer.headers["Content-Type"] == "image/png"
    image_format, size, colour = decode(answer.content)
    assert (image_format, size) == ("PNG", (sb_avatars.SIZE, sb_avatars.SIZE))
    other = decode(requests.get(user_get(sb, "u2")["avatar"], timeout=5).content)[2]
    assert colour != other
    assert requests.get(f"{sb.url}{PREFIX}/nobody-1.png", timeout=5).status_code == 404
    assert requests.get(f"{sb.url}{PREFIX}/u1.png", timeout=5).status_code == 404
    assert downloads(sb) == 4


def test_png_encoder():
    data = sb_avatars.png(3, 2, (10, 20, 30))
    assert decode(data) == ("PNG", (3, 2), (10, 20, 30))


def test_a_new_photo_is_a_new_url(sb):
    before = user_get(sb, "u1")["avatar"]
    new_path = sb_avatars.next_path("u1", f"{PREFIX}/u1-1.png")
    assert new_path == f"{PREFIX}/u1-2.png"
    assert ctl(sb, "mutate", {"op": "update_user", "userid": "u1", "avatar": new_path})["ok"]
    after = user_get(sb, "u1")["avatar"]
    assert after != before and after.endswith("/u1-2.png")
    assert decode(requests.get(after, timeout=5).content) != decode(requests.get(before, timeout=5).content)
    ctl(sb, "mutate", {"op": "update_user", "userid": "u1", "avatar": ""})
    assert "avatar" not in user_get(sb, "u1"), "back to the default picture"


def test_api_wildcard_faults_never_reach_pictures(sb):
    fault(sb, "*", errcode=-1, count=5)
    answer = requests.get(f"{sb.url}{PREFIX}/u1-1.png", timeout=5)
    assert answer.status_code == 200 and answer.headers["Content-Type"] == "image/png"
    assert ctl(sb, "faults")["faults"][0]["seen"] == 0


# ----- the downloader --------------------------------------------------------------------------------


def test_downloads_every_picture_once(sb):
    wanted = urls(sb, "u0", "u1", "u2", "u3")
    wanted["again"] = wanted["u1"]  # the same person in two companies: fetched once
    wanted["none"] = ""
    wanted["missing"] = None
    ctl(sb, "stats/reset", {})
    images, failures = dt_avatars.download_avatars(wanted, workers=3)
    assert not failures
    assert set(images) == {"u0", "u1", "u2", "u3", "again"}
    assert images["again"] == images["u1"]
    assert len({images[k] for k in ("u0", "u1", "u2", "u3")}) == 4
    assert all(dt_avatars.image_format(data) == "png" for data in images.values())
    assert downloads(sb) == 4


def test_nothing_to_download_makes_no_request(sb):
    ctl(sb, "stats/reset", {})
    assert dt_avatars.download_avatars({"a": "", "b": None}) == ({}, {})
    assert downloads(sb) == 0


def test_wrong_content_type(sb):
    wanted = urls(sb, "u1", "u2")
    fault(sb, f"{PREFIX}/u1-1.png", http_status=200, content_type="text/html")
    fault(sb, f"{PREFIX}/u2-1.png", body="<html><body>登录</body></html>", content_type="text/html")
    images, failures = dt_avatars.download_avatars(wanted)
    assert not images
    assert failures["u1"] == dt_avatars.AvatarFailure("content_type", "text/html")
    assert failures["u2"].code == "content_type"


def test_svg_is_refused(sb):
    wanted = urls(sb, "u1")
    fault(
        sb,
        body='<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
        content_type="image/svg+xml",
    )
    images, failures = dt_avatars.download_avatars(wanted)
    assert failures["u1"] == dt_avatars.AvatarFailure("content_type", "image/svg+xml")


@pytest.mark.parametrize("declared", [False, True], ids=["streamed", "content-length"])
def test_too_big(sb, declared):
    wanted = urls(sb, "u1", "u2")
    fault(sb, f"{PREFIX}/u1-1.png", http_status=200, size=6_000_000, content_length=declared)
    images, failures = dt_avatars.download_avatars(wanted, max_bytes=5 * 1024 * 1024)
    assert set(images) == {"u2"}
    assert failures["u1"].code == "too_big"
    assert ("6000000" in failures["u1"].detail) is declared, "refused on the header before reading"


def test_not_an_image(sb):
    wanted = urls(sb, "u1", "u2", "u3")
    fault(sb, f"{PREFIX}/u1-1.png", body="garbage, not a picture at all")  # under image/png
    fault(sb, f"{PREFIX}/u2-1.png", http_status=200, truncate=40)  # the PNG signature, then nothing
    images, failures = dt_avatars.download_avatars(wanted)
    assert set(images) == {"u3"}
    assert failures["u1"].code == "not_image" and "JPEG, PNG" in failures["u1"].detail
    assert failures["u2"] == dt_avatars.AvatarFailure("not_image", "cannot be decoded")


def test_too_many_pixels(sb):
    images, failures = dt_avatars.download_avatars(urls(sb, "u1"), max_pixels=100)
    assert failures["u1"] == dt_avatars.AvatarFailure("not_image", "96x96 pixels")


def test_http_errors(sb):
    wanted = urls(sb, "u1", "u2")
    wanted["gone"] = f"{sb.url}{PREFIX}/nobody-1.png"
    fault(sb, f"{PREFIX}/u1-1.png", http_status=404)
    fault(sb, f"{PREFIX}/u2-1.png", http_status=503)
    images, failures = dt_avatars.download_avatars(wanted)
    assert not images
    assert failures == {
        "u1": dt_avatars.AvatarFailure("http_status", "404"),
        "u2": dt_avatars.AvatarFailure("http_status", "503"),
        "gone": dt_avatars.AvatarFailure("http_status", "404"),
    }


def test_timeout(sb):
    wanted = urls(sb, "u1", "u2")
    fault(sb, f"{PREFIX}/u1-1.png", http_status=200, delay=2)
    images, failures = dt_avatars.download_avatars(wanted, timeout=0.5)
    assert set(images) == {"u2"}
    assert failures["u1"].code == "timeout"


def test_gives_up_after_repeated_network_failures(sb):
    wanted = urls(sb, "u0", "u1", "u2", "u3", "u4", "u5")
    fault(sb, http_status=200, delay=1, count=100)
    images, failures = dt_avatars.download_avatars(wanted, workers=2, timeout=0.3, give_up_after=2)
    assert not images
    codes = [failure.code for failure in failures.values()]
    # two timeouts open the breaker; the other worker may have started one more meanwhile
    assert 2 <= codes.count("timeout") <= 3 and codes.count("skipped") == 6 - codes.count("timeout"), codes
    assert downloads(sb) == codes.count("timeout")


def test_a_success_keeps_the_breaker_closed(sb):
    wanted = urls(sb, "u0", "u1", "u2", "u3")
    fault(sb, f"{PREFIX}/u1-1.png", http_status=200, delay=1)
    fault(sb, f"{PREFIX}/u2-1.png", http_status=200, delay=1)
    images, failures = dt_avatars.download_avatars(wanted, workers=1, timeout=0.3, give_up_after=1)
    assert set(images) == {"u0", "u3"}
    assert {failures["u1"].code, failures["u2"].code} == {"timeout"}


def test_bad_urls_and_refused_connections(sb):
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    images, failures = dt_avatars.download_avatars(
        {
            "ftp": "ftp://example.com/a.png",
            "js": "javascript:alert(1)",
            "closed": f"http://127.0.0.1:{port}/a.png",
        }
    )
    assert not images
    assert failures["ftp"].code == failures["js"].code == "bad_url"
    assert failures["closed"].code == "network"


def test_uses_a_given_session(sb):
    session = requests.Session()
    images, failures = dt_avatars.download_avatars(urls(sb, "u1"), session=session)
    assert set(images) == {"u1"} and not failures
    assert session.get(f"{sb.url}{PREFIX}/u1-1.png", timeout=5).status_code == 200, "left open for its owner"
    session.close()


def _chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"\xff\xd8\xff\xe0\x00\x10JFIF", "jpeg"),
        (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", b"\x00" * 13), "png"),
        (b"GIF89a\x01\x00", "gif"),
        (b"GIF87a\x01\x00", "gif"),
        (b"RIFF\x00\x00\x00\x00WEBPVP8 ", "webp"),
        (b"<svg xmlns=", None),
        (b"<html>", None),
        (b"BM\x00\x00", None),
        (b"", None),
    ],
)
def test_image_format(data, expected):
    assert dt_avatars.image_format(data) == expected


def test_every_accepted_format_decodes():
    for fmt in ("JPEG", "PNG", "GIF", "WEBP"):
        buffer = io.BytesIO()
        Image.new("RGB", (8, 8), (200, 10, 10)).save(buffer, fmt)
        data = buffer.getvalue()
        assert dt_avatars.image_format(data) == fmt.lower()
        assert dt_avatars._check_decodes(data, dt_avatars.MAX_PIXELS) == data


def test_an_unexpected_error_is_a_failure_not_an_exception(sb):
    class Broken(requests.Session):
        def get(self, *args, **kwargs):
            raise RuntimeError("surprise")

    images, failures = dt_avatars.download_avatars(urls(sb, "u1"), session=Broken())
    assert not images
    assert failures["u1"] == dt_avatars.AvatarFailure("error", "RuntimeError")
