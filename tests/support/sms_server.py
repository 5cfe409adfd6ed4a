"""A local stand-in for SMS.ru's HTTP API (`POST /sms/send`, `POST /sms/cost`),
plain HTTP on loopback.

It records the form fields of every request and answers as SMS.ru does with
`json=1`: `{"status": "OK", "sms": {"<digits>": {"status": "OK", ...}}}`. Queue
other answers in `answers` (a dict is sent as the whole JSON answer, an int as an
HTTP status). `/sms/cost` requests go to `cost_requests` and are answered with
`price` roubles per SMS part for each number (`cost_answers` queues others).
"""

from __future__ import annotations

import json
import threading
import urllib.parse
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

API_ID = "TEST-API-ID-0000"


def parts_of(text: str) -> int:
    """SMS parts as SMS.ru counts them, simplified: ASCII 160 (153 per part),
    anything else 70 (67 per part)."""
    single, part = (160, 153) if text.isascii() else (70, 67)
    return 1 if len(text) <= single else -(-len(text) // part)


class SmsRuStandIn:
    def __init__(self, api_id: str = API_ID) -> None:
        self.requests: list[dict[str, str]] = []
        self.answers: list[dict[str, Any] | int] = []
        self.cost_requests: list[dict[str, str]] = []
        self.cost_answers: list[dict[str, Any] | int] = []
        self.price = "1.50"
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                length = int(self.headers.get("Content-Length", 0))
                raw = self.rfile.read(length).decode()
                form = dict(urllib.parse.parse_qsl(raw, keep_blank_values=True))
                if self.path == "/sms/cost":
                    self._cost(form)
                    return
                if self.path != "/sms/send":
                    self._answer(404, {"status": "ERROR", "status_code": 404})
                    return
                stand_in.requests.append(form)
                answer = stand_in.answers.pop(0) if stand_in.answers else None
                if isinstance(answer, int):
                    self._answer(answer, {})
                elif answer is not None:
                    self._answer(200, answer)
                elif form.get("api_id") != api_id:
                    self._answer(
                        200,
                        {
                            "status": "ERROR",
                            "status_code": 200,
                            "status_text": "Неправильный api_id",
                        },
                    )
                else:
                    to = form.get("to", "")
                    self._answer(
                        200,
                        {
                            "status": "OK",
                            "status_code": 100,
                            "sms": {
                                to: {
                                    "status": "OK",
                                    "status_code": 100,
                                    "sms_id": f"0000-{len(stand_in.requests)}",
                                }
                            },
                            "balance": 100.5,
                        },
                    )

            def _cost(self, form: dict[str, str]) -> None:
                stand_in.cost_requests.append(form)
                answer = stand_in.cost_answers.pop(0) if stand_in.cost_answers else None
                if isinstance(answer, int):
                    self._answer(answer, {})
                    return
                if answer is not None:
                    self._answer(200, answer)
                    return
                if form.get("api_id") != api_id:
                    self._answer(200, {"status": "ERROR", "status_code": 200})
                    return
                parts = parts_of(form.get("msg", ""))
                each = Decimal(stand_in.price) * parts
                numbers = [n for n in form.get("to", "").split(",") if n]
                self._answer(
                    200,
                    {
                        "status": "OK",
                        "status_code": 100,
                        "sms": {
                            n: {
                                "status": "OK",
                                "status_code": 100,
                                "cost": f"{each:.2f}",
                                "sms": parts,
                            }
                            for n in numbers
                        },
                        "total_cost": float(each * len(numbers)),
                        "total_sms": parts * len(numbers),
                    },
                )

            def _answer(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_port}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)
