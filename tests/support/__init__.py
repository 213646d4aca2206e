"""Helpers shared by the test suite, one module per concern, all importable from here.

- ``clocks``: ``FakeClock``, and waits on a fact: ``eventually`` (polls a
  check) and ``until`` (the same on a running loop).
- ``settings``: ``make_settings`` (cheap argon2, one keyring), ``settings_env``.
- ``databases``: the kinds that run, making and emptying databases, ``sql``.
- ``http``: ``create_secret`` and ``assert_error`` for every test, in-process
  or against a real server; metrics scrapes; raw requests.
- ``servers``: the CLI and real server processes, ports, a TCP relay.
- ``receivers``: webhook receivers (recording, and hung).
- ``pages``: what a browser sends, and ``assert_page`` for an HTML answer.
- ``readme``: the README's snippets and server commands, run as written.
"""

from __future__ import annotations

from tests.support.clocks import FakeClock, eventually, until
from tests.support.databases import (
    DATABASES,
    KINDS,
    POSTGRES_ADMIN_URL,
    REDIS_URL,
    SERVICES_REQUIRED,
    count_rows,
    create_postgres_database,
    drop_postgres_database,
    empty_database,
    needs_postgres,
    needs_redis,
    new_database,
    sql,
)
from tests.support.http import (
    LEAKS,
    SECURITY_HEADERS,
    Created,
    assert_error,
    chunked,
    create_secret,
    raw_request,
    samples,
)
from tests.support.pages import (
    BROWSER,
    BROWSER_ACCEPT,
    FORM,
    PAGE_HEADERS,
    assert_page,
    page_text,
)
from tests.support.readme import README, readme_command, readme_snippet
from tests.support.receivers import HungReceiver, Receiver
from tests.support.servers import (
    TcpProxy,
    free_port,
    process_memory,
    race_cli,
    run_bare,
    run_cli,
    running_server,
    server_command,
    server_processes,
    wait_until_healthy,
)
from tests.support.settings import (
    CHEAP_ARGON2,
    TEST_KEY_FILE,
    make_settings,
    server_keys,
    settings_env,
)

__all__ = [
    "BROWSER",
    "BROWSER_ACCEPT",
    "CHEAP_ARGON2",
    "DATABASES",
    "FORM",
    "KINDS",
    "LEAKS",
    "PAGE_HEADERS",
    "POSTGRES_ADMIN_URL",
    "README",
    "REDIS_URL",
    "SECURITY_HEADERS",
    "SERVICES_REQUIRED",
    "TEST_KEY_FILE",
    "Created",
    "FakeClock",
    "HungReceiver",
    "Receiver",
    "TcpProxy",
    "assert_error",
    "assert_page",
    "chunked",
    "count_rows",
    "create_postgres_database",
    "create_secret",
    "drop_postgres_database",
    "empty_database",
    "eventually",
    "free_port",
    "make_settings",
    "needs_postgres",
    "needs_redis",
    "new_database",
    "page_text",
    "process_memory",
    "race_cli",
    "raw_request",
    "readme_command",
    "readme_snippet",
    "run_bare",
    "run_cli",
    "running_server",
    "samples",
    "server_command",
    "server_keys",
    "server_processes",
    "settings_env",
    "sql",
    "until",
    "wait_until_healthy",
]
