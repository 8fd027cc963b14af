"""A loopback proxy that adds a logged-in session cookie to every request to a web server.

Headless Chromium's `--screenshot` and `--dump-dom` take a URL and nothing else: no cookie,
no login form. Pointed at this proxy instead of the BI server, the browser loads pages as the
user whose session cookie the test obtained by logging in. Responses pass through unchanged,
except redirects to the server's own address, which are rewritten to the proxy's.
"""

from __future__ import annotations

import http.client
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

# Meaningful between two hops only, or recomputed here.
_HOP_HEADERS = {
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te",
    "trailers", "transfer-encoding", "upgrade", "host", "content-length",
}  # fmt: skip


class SessionProxy:
    """`with SessionProxy("http://127.0.0.1:8088", "session=...") as proxy:` then open
    `proxy.url + "/some/page"` in the browser."""

    def __init__(self, upstream: str, cookie: str, timeout_s: float = 120) -> None:
        parts = urlsplit(upstream)
        self.upstream = upstream.rstrip("/")
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.cookie = cookie
        self.timeout_s = timeout_s
        self.errors: list[str] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> SessionProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

    def _handler(self):
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:  # quiet: the test reports what matters
                pass

            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_HEADERS}
                cookies = headers.pop("Cookie", headers.pop("cookie", ""))
                if "session=" not in cookies:
                    cookies = "; ".join(c for c in (cookies, proxy.cookie) if c)
                headers["Cookie"] = cookies
                headers["Host"] = f"{proxy.host}:{proxy.port}"
                upstream = http.client.HTTPConnection(
                    proxy.host, proxy.port, timeout=proxy.timeout_s
                )
                try:
                    upstream.request(self.command, self.path, body=body, headers=headers)
                    response = upstream.getresponse()
                    payload = response.read()
                except OSError as err:
                    proxy.errors.append(f"{self.command} {self.path}: {err}")
                    self.send_error(502, str(err))
                    return
                finally:
                    upstream.close()
                self.send_response(response.status, response.reason)
                for name, value in response.getheaders():
                    if name.lower() in _HOP_HEADERS:
                        continue
                    if name.lower() == "location":
                        value = value.replace(proxy.upstream, proxy.url)
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _forward

        return Handler
