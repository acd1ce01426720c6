"""HTML of the sandbox login page (stands in for DingTalk's QR-code page)."""

from html import escape

OUTSIDER_LABEL = "组织外 (not in the organisation)"
_KEEP = ("redirect_uri", "response_type", "client_id", "scope", "state", "prompt", "org_type", "corpId")

_STYLE = """
body{font-family:sans-serif;margin:2em auto;max-width:760px;color:#1f2329}
h1{font-size:1.3em} .people{display:flex;flex-wrap:wrap;gap:.5em;padding:0;list-style:none}
.people button{padding:.5em .8em;border:1px solid #3370ff;background:#fff;border-radius:6px;cursor:pointer}
.people button:hover{background:#3370ff;color:#fff} small{color:#8f959e}
"""


def _hidden(args):
    return "".join(
        '<input type="hidden" name="%s" value="%s"/>' % (name, escape(args.get(name), quote=True))
        for name in _KEEP
        if args.get(name) is not None
    )


def login_page(corp_name, people, args, query, outsiders=()):
    """``outsiders``: DingTalk accounts outside the organisation, which the real page lets scan too."""
    hidden = _hidden(args)
    items = "".join(
        '<li><button type="submit" name="userid" value="{u}" id="dt-user-{u}" class="dt-user" '
        'data-userid="{u}" data-name="{n}">{n} <small>{t}</small></button></li>'.format(
            u=escape(p.userid, quote=True), n=escape(p.name, quote=True), t=escape(p.title or "")
        )
        for p in people
    )
    items += "".join(
        '<li><button type="submit" name="unionid" value="{u}" id="dt-outsider-{u}" class="dt-outsider" '
        'data-unionid="{u}" data-name="{n}">{n} <small>{t}</small></button></li>'.format(
            u=escape(o["unionid"], quote=True), n=escape(o["name"], quote=True), t=OUTSIDER_LABEL
        )
        for o in outsiders
    )
    return """<!DOCTYPE html>
<html lang="zh-CN"><head><meta charset="utf-8"/><title>钉钉登录 (sandbox)</title><style>{style}</style></head>
<body><h1>登录 {corp}</h1>
<p>沙箱：选择一位成员代替扫码登录。Sandbox: pick a person instead of scanning the QR code.</p>
<form method="get" action="/oauth2/auth" id="dt-search">{hidden}
<input type="search" name="q" value="{query}" placeholder="姓名 / userid / 手机号"/>
<button type="submit">搜索</button></form>
<form method="post" action="/oauth2/auth" id="dt-login">{hidden}
<ul class="people">{items}</ul></form>
</body></html>""".format(
        style=_STYLE,
        corp=escape(corp_name or ""),
        hidden=hidden,
        query=escape(query, quote=True),
        items=items,
    )


def error_page(message):
    return f"""<!DOCTYPE html>
<html lang="zh-CN"><head><meta charset="utf-8"/><title>钉钉登录 (sandbox)</title></head>
<body><h1>登录失败</h1><p id="dt-error">{escape(message)}</p></body></html>"""
