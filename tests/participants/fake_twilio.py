"""A fake of Twilio's Messages API on 127.0.0.1 (no account, no network): it records each request and answers
as Twilio does, with a new SID, or with the error it was told to give.

    with FakeTwilio() as fake:
        settings.TWILIO_API_BASE = fake.url
        ...
        fake.requests[0].form["To"]
"""

from __future__ import annotations

import base64
import itertools
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    form: dict[str, str]

    @property
    def basic_auth(self) -> tuple[str, str] | None:
        value = self.headers.get("authorization", "")
        if not value.lower().startswith("basic "):
            return None
        user, _, password = base64.b64decode(value[6:]).decode().partition(":")
        return user, password


@dataclass
class FakeTwilio:
    requests: list[Seen] = field(default_factory=list)
    # The next answers to give, in order: (HTTP status, body); when empty, a created message.
    answers: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    _sids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def __enter__(self) -> FakeTwilio:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length).decode()
                form = {k: v[0] for k, v in parse_qs(raw, keep_blank_values=True).items()}
                fake.requests.append(Seen("POST", self.path, {k.lower(): v for k, v in self.headers.items()}, form))
                if fake.answers:
                    status, body = fake.answers.pop(0)
                elif not self.path.endswith("/Messages.json"):
                    status, body = 404, {"code": 20404, "message": "The requested resource was not found"}
                else:
                    sid = f"SM{next(fake._sids):032x}"
                    status, body = (
                        201,
                        {
                            "sid": sid,
                            "status": "queued",
                            "to": form.get("To"),
                            "from": form.get("From"),
                            "body": form.get("Body"),
                            "messaging_service_sid": form.get("MessagingServiceSid"),
                            "account_sid": self.path.split("/")[3],
                        },
                    )
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)

    def refuse(self, *, status: int, code: int, message: str) -> None:
        """Make the next request fail as Twilio fails it."""
        self.answers.append(
            (status, {"code": code, "message": message, "more_info": f"https://www.twilio.com/docs/errors/{code}",
                      "status": status})
        )  # fmt: skip
