"""A client of Superset's REST API (and its login form), on the standard library only.

`Superset(url, username, password)` logs in through the API (`/api/v1/security/login`, a JWT
bearer token) and fetches a CSRF token for the calls that change state, as Superset's own
API clients do. `session_cookie` logs in through the login form, for a browser.
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.parse
import urllib.request
from http.cookiejar import CookieJar
from typing import Any


class SupersetError(AssertionError):
    """A call that did not answer 2xx: the status and Superset's own message."""


class Superset:
    def __init__(self, url: str, username: str, password: str, timeout_s: float = 120) -> None:
        self.url = url.rstrip("/")
        self.timeout_s = timeout_s
        self._cookies = CookieJar()
        self._opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(self._cookies)
        )
        self._headers: dict[str, str] = {"Referer": self.url}
        login = self.post(
            "/api/v1/security/login",
            {"username": username, "password": password, "provider": "db", "refresh": True},
        )
        self._headers["Authorization"] = f"Bearer {login['access_token']}"
        self._headers["X-CSRFToken"] = self.get("/api/v1/security/csrf_token/")["result"]

    def request(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        headers = {**self._headers, **({"Content-Type": "application/json"} if data else {})}
        req = urllib.request.Request(self.url + path, data=data, headers=headers, method=method)
        try:
            with self._opener.open(req, timeout=self.timeout_s) as response:
                text = response.read().decode()
        except urllib.error.HTTPError as err:
            raise SupersetError(
                f"{method} {path} -> {err.code}: {err.read().decode()[:2000]}"
            ) from None
        return json.loads(text) if text else None

    def get(self, path: str) -> Any:
        return self.request("GET", path)

    def post(self, path: str, body: Any) -> Any:
        return self.request("POST", path, body)

    def sql(self, database_id: int, sql: str, limit: int = 100_000) -> list[dict]:
        """Rows of `sql` run through SQL Lab (synchronously), as Superset returns them."""
        answer = self.post(
            "/api/v1/sqllab/execute/",
            {"database_id": database_id, "sql": sql, "runAsync": False, "queryLimit": limit},
        )
        if answer.get("status") != "success":
            raise SupersetError(f"SQL Lab did not succeed: {answer}")
        return answer["data"]


def session_cookie(url: str, username: str, password: str, timeout_s: float = 60) -> str:
    """`session=...` of a user logged in through the login form, as a browser would be."""
    cookies = CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(cookies))
    with opener.open(f"{url}/login/", timeout=timeout_s) as page:
        html = page.read().decode()
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html)
    if token is None:
        raise SupersetError("The login page has no CSRF token.")
    form = urllib.parse.urlencode(
        {"username": username, "password": password, "csrf_token": token.group(1)}
    ).encode()
    with opener.open(f"{url}/login/", data=form, timeout=timeout_s):
        pass
    found = [c for c in cookies if c.name == "session"]
    if not found:
        raise SupersetError("The login form set no session cookie: wrong user or password?")
    return f"session={found[0].value}"
