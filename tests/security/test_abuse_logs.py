"""No credential is written to a log, by Chalkboard or by the server in front of it: a token or ticket that
arrives in a query string is redacted from uvicorn's and gunicorn's lines as well as Django's, and the
records keep the shape the servers' own formatters need. ``test_abuse_logs_live.py`` reads the logs of real
server processes."""

from __future__ import annotations

import io
import logging

import pytest
from gunicorn.glogging import SafeAtoms
from uvicorn.logging import AccessFormatter, DefaultFormatter

from chalkboard.common.logs import REDACTED, RedactSecrets, redact, redact_every_handler

TOKEN = "9f" * 32
TICKET = "yb0Qx-3_kLm9"


@pytest.fixture(autouse=True)
def _filters_restored():
    """``redact_every_handler`` reaches every handler there is, pytest's own capturing ones included: each
    test here leaves their filters as it found them."""
    loggers = [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]
    handlers = {handler for logger in loggers for handler in getattr(logger, "handlers", [])}
    before = {handler: list(handler.filters) for handler in handlers}
    yield
    for handler, filters in before.items():
        handler.filters = filters


@pytest.fixture
def server_logger():
    """A logger with a handler of its own, set up the way a server sets up its logging: before the
    application loads (so Django's settings never configured it)."""
    created = []

    def make(name: str, formatter: logging.Formatter) -> tuple[logging.Logger, io.StringIO]:
        stream = io.StringIO()
        handler = logging.StreamHandler(stream)
        handler.setFormatter(formatter)
        logger = logging.getLogger(name)
        logger.handlers, logger.propagate = [handler], False
        logger.setLevel(logging.INFO)
        created.append(logger)
        return logger, stream

    yield make
    for logger in created:
        logger.handlers, logger.propagate = [], True


def test_uvicorn_socket_lines_lose_the_credential_and_keep_the_rest(server_logger):
    logger, stream = server_logger("uvicorn.error.test", DefaultFormatter("%(levelprefix)s %(message)s"))
    redact_every_handler()

    path = f"/ws/dashboard/?since=12&token={TOKEN}"
    logger.info('%s - "WebSocket %s" [accepted]', "127.0.0.1:50312", path, extra={"color_message": "c %s %s"})
    logger.info('%s - "WebSocket %s" %d', "127.0.0.1:50313", f"/ws/dashboard/?ticket={TICKET}", 403)

    written = stream.getvalue()
    assert TOKEN not in written
    assert TICKET not in written
    assert f'127.0.0.1:50312 - "WebSocket /ws/dashboard/?since=12&token={REDACTED}" [accepted]' in written
    assert f'"WebSocket /ws/dashboard/?ticket={REDACTED}" 403' in written


def test_uvicorn_access_lines_keep_the_arguments_their_formatter_unpacks(server_logger):
    formatter = AccessFormatter('%(client_addr)s - "%(request_line)s" %(status_code)s', use_colors=False)
    logger, stream = server_logger("uvicorn.access.test", formatter)
    redact_every_handler()

    path = f"/api/me/?ticket={TICKET}&authorization=Bearer%20{TOKEN}"
    logger.info('%s - "%s %s HTTP/%s" %d', "127.0.0.1:4000", "GET", path, "1.1", 401)

    written = stream.getvalue()
    assert TOKEN not in written
    assert TICKET not in written
    assert f'"GET /api/me/?ticket={REDACTED}&authorization={REDACTED} HTTP/1.1" 401' in written


def test_gunicorn_access_lines_lose_the_credential(server_logger):
    logger, stream = server_logger("gunicorn.access.test", logging.Formatter("%(message)s"))
    redact_every_handler()

    atoms = SafeAtoms(
        {"h": "127.0.0.1", "r": f"GET /api/me/?token={TOKEN} HTTP/1.1", "s": "401", "q": f"token={TOKEN}"}
    )
    logger.info('%(h)s "%(r)s" %(s)s %(q)s %({x-forwarded-for}i)s', atoms)

    assert stream.getvalue() == f'127.0.0.1 "GET /api/me/?token={REDACTED} HTTP/1.1" 401 token={REDACTED} -\n'


def test_a_secret_split_across_arguments_is_redacted_from_the_whole_message():
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "Bearer %s", (TOKEN[:10] + "x" * 60,), None)
    assert RedactSecrets().filter(record) is True
    assert record.getMessage() == f"Bearer {REDACTED}"
    assert record.args is None
    other = logging.LogRecord("x", logging.INFO, __file__, 1, "seen %s", (b"token=" + TOKEN.encode(),), None)
    RedactSecrets().filter(other)
    assert TOKEN not in other.getMessage()


def test_the_application_puts_the_filter_on_handlers_the_server_made_first(server_logger):
    from django.apps import apps

    logger, _ = server_logger("gunicorn.error.test", logging.Formatter("%(message)s"))
    assert not logger.handlers[0].filters
    apps.get_app_config("common").ready()
    apps.get_app_config("common").ready()  # once is enough: the filter is not added twice
    assert [type(item) for item in logger.handlers[0].filters] == [RedactSecrets]


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        (f"/ws/dashboard/?token={TOKEN}", f"/ws/dashboard/?token={REDACTED}"),
        (f"/x?a=1&TICKET={TICKET}&b=2", f"/x?a=1&TICKET={REDACTED}&b=2"),
        (f"/x?access_token={TICKET}", f"/x?access_token={REDACTED}"),
        (f"q=auth={TICKET}", f"q=auth={REDACTED}"),
        ("/ws/dashboard/?since=5&ticket=", "/ws/dashboard/?since=5&ticket="),
    ],
)
def test_redact_credentials_in_query_strings(text, kept):
    assert redact(text) == kept
