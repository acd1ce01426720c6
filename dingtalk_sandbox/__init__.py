"""DingTalk sandbox: a local HTTP server speaking DingTalk's wire format over a generated or
file-defined organisation. Independent of the ``ziqi_dingtalk`` addon on purpose.

    python -m dingtalk_sandbox --port 0 --users 200 --departments 20

In-process (tests)::

    from dingtalk_sandbox import Sandbox, generate, start_in_thread
    server, url = start_in_thread(Sandbox(generate(users=50)))
"""

from .crypto import CallbackCrypto, CallbackCryptoError
from .generate import generate
from .org import Org, User
from .server import Sandbox, serve, start_in_thread

__all__ = [
    "CallbackCrypto",
    "CallbackCryptoError",
    "Org",
    "Sandbox",
    "User",
    "generate",
    "serve",
    "start_in_thread",
]
