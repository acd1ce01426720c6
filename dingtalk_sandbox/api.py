"""api.dingtalk.com /v1.0 handlers and the login.dingtalk.com /oauth2/auth page (protocol §3.1, §5.1)."""

import re
import time
from urllib.parse import urlencode, urlsplit, urlunsplit

from werkzeug.utils import redirect
from werkzeug.wrappers import Response

from . import avatars, pages
from .errors import ApiError
from .org import User

CODE_TTL = 300  # auth codes live five minutes, single use
_BAD_CLIENT = (400, "invalidClientIdOrSecret", "无效的clientId或者clientSecret")


def _check_client(sb, key, secret):
    app = sb.org.app
    if key != app["app_key"] or secret != app["app_secret"]:
        raise ApiError(*_BAD_CLIENT)


def access_token(sb, request, params, app_key):
    """``POST /v1.0/oauth2/accessToken`` {appKey, appSecret} -> {accessToken, expireIn}; a wrong key or secret
    answers HTTP 400 {code: invalidClientIdOrSecret, message: 无效的clientId或者clientSecret, requestid}
    [KB:API/0033-obtain-the-access-token-of-an-internal-app]. The same token while valid, extended when
    fetched again."""
    _check_client(sb, params.get("appKey"), params.get("appSecret"))
    with sb.lock:
        token = sb.tokens.app_token(sb.org.app["app_key"])
    return {"accessToken": token, "expireIn": int(sb.tokens.ttl)}


def corp_token(sb, request, params, app_key):
    """``POST /v1.0/oauth2/{corpId}/token`` (client_credentials), snake_case answer."""
    if params.get("grant_type") != "client_credentials":
        raise ApiError(400, "unsupported.grant.type", "grant_type must be client_credentials")
    if (
        params.get("client_id") != sb.org.app["app_key"]
        or params.get("client_secret") != sb.org.app["app_secret"]
    ):
        raise ApiError(400, "invalid.client", "无效的client_id或client_secret")
    with sb.lock:
        token = sb.tokens.app_token(sb.org.app["app_key"])
    return {"access_token": token, "expires_in": int(sb.tokens.ttl)}


def user_access_token(sb, request, params, app_key):
    _check_client(sb, params.get("clientId"), params.get("clientSecret"))
    grant = params.get("grantType") or "authorization_code"
    with sb.lock:
        if grant == "refresh_token":
            info = sb.tokens.refresh_tokens.pop(str(params.get("refreshToken") or ""), None)
            if info is None:
                raise ApiError(400, "invalidRefreshToken", "不合法的refreshToken")
        elif grant == "authorization_code":
            info = sb.tokens.login_codes.pop(str(params.get("code") or ""), None)
            if info is None or info["expires"] <= time.time():
                raise ApiError(400, "invalidAuthCode", "不合法的临时授权码")
        else:
            raise ApiError(400, "invalidGrantType", "不合法的grantType")
        if _account(sb.org, info) is None:
            raise ApiError(400, "invalidAuthCode", "用户不存在")
        token, refresh = sb.tokens.user_token(info["userid"], info["app_key"], unionid=info.get("unionid"))
    answer = {"accessToken": token, "refreshToken": refresh, "expireIn": int(sb.tokens.ttl)}
    if info["userid"] is not None:
        # corpId is "所选企业corpId", the organisation chosen at sign-in [KB:API/0032-obtain-user-token]: an
        # account outside the organisation has none of this internal app's (no cross-organisation sign-in,
        # KB:API/0019-tutorial-obtaining-user-personal-information)
        answer["corpId"] = sb.org.corp_id
    return answer


def _account(org, info):
    """The DingTalk account behind a login code or user token: a member (None once they left), or an
    account outside the organisation (a User without userid)."""
    if info.get("userid") is not None:
        return org.active_user(info["userid"])
    outsider = org.outsiders.get(info.get("unionid") or "")
    return User(**outsider) if outsider else None


def users_me(sb, request, params, app_key):
    token = request.headers.get("x-acs-dingtalk-access-token")
    if not token:
        raise ApiError(400, "AuthenticationFailed.MissingParameter", "缺少参数 x-acs-dingtalk-access-token")
    with sb.lock:
        info, problem = sb.tokens.check_user(token)
        user = _account(sb.org, info) if info else None
        if problem or user is None:
            raise ApiError(400, "InvalidAuthentication", "不合法的access_token")
        out = {"nick": user.name, "unionId": user.unionid, "openId": "open" + user.unionid, "stateCode": "86"}
        if user.avatar:
            out["avatarUrl"] = avatars.absolute(request.host_url, user.avatar)
        if user.mobile:
            out["mobile"] = user.mobile
        if user.email:
            out["email"] = user.email
    return out


def jsapi_tickets(sb, request, params, app_key):
    return {"jsapiTicket": "sandbox-ticket-" + app_key, "expireIn": int(sb.tokens.ttl)}


ROUTES = {
    "/v1.0/oauth2/accessToken": (access_token, "none"),
    "/v1.0/oauth2/userAccessToken": (user_access_token, "none"),
    "/v1.0/contact/users/me": (users_me, "user"),
    "/v1.0/oauth2/jsapiTickets": (jsapi_tickets, "app"),
}
_CORP_TOKEN = re.compile(r"^/v1\.0/oauth2/[^/]+/token$")


def match_pattern(path):
    if _CORP_TOKEN.match(path):
        return corp_token, "none"
    return None


# ----- login page --------------------------------------------------------------------------------
def login_page(sb, request, path):
    if path != "/oauth2/auth":
        return Response("Not Found", status=404)
    args = request.values
    problem = _login_problem(sb, args)
    if problem:
        return Response(pages.error_page(problem), status=400, content_type="text/html;charset=utf-8")
    # ?userid=U, ?unionid=U (any account: a member, or one outside the organisation), or the control API's
    # "login_as" (either id): a browser test standing in for the person scanning
    who = args.get("userid") or args.get("unionid") or sb.login_as
    if who:
        return _choose(sb, args, who)
    query = (args.get("q") or "").strip()
    limit = int(args.get("limit") or 200)
    with sb.lock:
        people = _search(sb.org, query, limit=limit)
        outsiders = [o for o in sb.org.outsiders.values() if not query or query in o["name"]][:limit]
    html = pages.login_page(sb.org.corp_name, people, args, query, outsiders)
    return Response(html, content_type="text/html;charset=utf-8")


def _login_problem(sb, args):
    if args.get("client_id") != sb.org.app["app_key"]:
        return "client_id 无效 (invalid client_id)"
    if args.get("response_type") != "code":
        return "response_type 必须为 code (response_type must be code)"
    if not args.get("redirect_uri"):
        return "缺少 redirect_uri (missing redirect_uri)"
    return None


def _search(org, query, limit):
    out = []
    for user in org.users.values():
        if user.left:
            continue
        if query and query not in user.name and query not in user.userid and query not in (user.mobile or ""):
            continue
        out.append(user)
        if len(out) >= limit:
            break
    return out


def _choose(sb, args, who):
    """Sign in as ``who``: a member's userid or unionid, or the unionid of an account outside the
    organisation (which DingTalk's page lets scan too, without ``exclusiveLogin`` [KB:API/0019])."""
    with sb.lock:
        org = sb.org
        user = org.active_user(who) or org.active_user(org.by_unionid.get(who))
        if user is None and who not in org.outsiders:
            return Response(
                pages.error_page("用户不存在 (unknown user)"),
                status=400,
                content_type="text/html;charset=utf-8",
            )
        code = sb.tokens.new_code()
        sb.tokens.login_codes[code] = {
            "userid": user.userid if user else None,
            "unionid": None if user else who,
            "app_key": sb.org.app["app_key"],
            "expires": time.time() + CODE_TTL,
        }
    target = add_query(args["redirect_uri"], {"code": code, "authCode": code, "state": args.get("state", "")})
    return redirect(target, code=302)


def add_query(url, extra):
    parts = urlsplit(url)
    query = parts.query + ("&" if parts.query else "") + urlencode(extra)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))
