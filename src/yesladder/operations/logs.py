"""Logs as JSON lines (`YESLADDER_LOG_FORMAT=json`), each with the id of the request it was
written in, which the answer carries too (`X-Request-ID`): one line per record for journald,
Loki or any log shipper, and a way from a visitor's report to the lines of their request."""

import contextvars
import json
import logging
import re
import time
import uuid

current = contextvars.ContextVar("request_id", default="")
GIVEN = re.compile(r"^[A-Za-z0-9._-]{8,64}$")  # an id a proxy in front made: kept if it is sane


def request_id(get_response):
    def middleware(request):
        given = request.headers.get("X-Request-ID", "")
        rid = given if GIVEN.match(given) else uuid.uuid4().hex
        current.set(rid)  # until the request is finished: Django logs a 404 or 500 after us
        response = get_response(request)
        response["X-Request-ID"] = rid
        return response

    return middleware


def forget(**kwargs) -> None:
    """On request_finished: lines written between requests carry no id."""
    current.set("")


class RequestId(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = current.get()
        return True


class JsonLines(logging.Formatter):
    converter = time.gmtime  # times in UTC, as everything else

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(), "logger": record.name,
            "message": record.getMessage(), "request_id": getattr(record, "request_id", ""),
        }  # fmt: skip
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False)
