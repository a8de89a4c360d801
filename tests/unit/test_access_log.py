"""The access log never prints a query string (the registration token travels in one)."""

from __future__ import annotations

import datetime
import logging
from types import SimpleNamespace

from gunicorn.config import Config
from gunicorn.glogging import Logger

from lti_bridge.web.server import ACCESS_LOG_FORMAT


def test_the_access_log_line_of_a_registration_omits_its_token() -> None:
    config = Config()
    config.set("access_log_format", ACCESS_LOG_FORMAT)
    config.set("accesslog", "-")
    logger = Logger(config)
    lines: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(record.getMessage())

    logger.access_log.addHandler(Collect())
    query = "openid_configuration=https%3A%2F%2Flms.example.edu%2Fcfg&registration_token=SECRET42"
    environ = {
        "REQUEST_METHOD": "GET",
        "RAW_URI": "/lti/register?" + query,
        "PATH_INFO": "/lti/register",
        "QUERY_STRING": query,
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "203.0.113.9",
    }
    response = SimpleNamespace(status="200 OK", sent=120, headers=[], response_length=120)
    request = SimpleNamespace(headers=[])

    logger.access(response, request, environ, datetime.timedelta(milliseconds=7))

    [line] = lines
    assert "/lti/register" in line and "GET" in line and "200" in line
    assert "SECRET42" not in line and "registration_token" not in line
