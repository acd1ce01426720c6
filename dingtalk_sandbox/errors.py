"""The two error shapes DingTalk answers with."""


class OapiError(Exception):
    """An oapi (old API) error: HTTP 200 with errcode/errmsg (+ sub_code/sub_msg for errcode 88)."""

    def __init__(self, errcode, errmsg, sub_code=None, sub_msg=None):
        super().__init__(errmsg)
        self.errcode, self.errmsg, self.sub_code, self.sub_msg = errcode, errmsg, sub_code, sub_msg

    def body(self):
        out = {"errcode": self.errcode, "errmsg": self.errmsg}
        if self.sub_code is not None:
            out.update(sub_code=str(self.sub_code), sub_msg=self.sub_msg)
        return out


class ApiError(Exception):
    """A new API (api.dingtalk.com) error: HTTP 4xx with {code, message, requestid}."""

    def __init__(self, status, code, message):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
