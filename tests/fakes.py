"""Test doubles shared by the plain-Python tests."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from dingtalk_sandbox import CallbackCrypto, CallbackCryptoError


class FakeClock:
    """A monotonic clock that moves only when something sleeps on it."""

    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds


class CallbackReceiver:
    """A tiny callback endpoint that verifies, decrypts and answers like the addon must."""

    TOKEN, AES_KEY = "cbtoken", "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"

    def __init__(self, receiver_id):
        self.crypto = CallbackCrypto(self.TOKEN, self.AES_KEY, receiver_id)
        self.received = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                query = {k: v[0] for k, v in parse_qs(urlsplit(self.path).query).items()}
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                try:
                    text = receiver.crypto.decrypt_request(
                        query.get("msg_signature") or query.get("signature"),
                        query.get("timeStamp") or query.get("timestamp"),
                        query["nonce"],
                        body["encrypt"],
                    )
                except CallbackCryptoError:
                    self.send_response(403)
                    self.end_headers()
                    return
                receiver.received.append((query, json.loads(text)))
                answer = json.dumps(receiver.crypto.encrypt_response("success")).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d/dingtalk/callback" % self.server.server_port
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()
