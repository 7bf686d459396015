"""Shared by the generator and the benchmarks: the bench database and environment.

Everything runs with the project's own settings (``partnership.settings``) against a separate
PostgreSQL database per scale, so the benchmarks never touch the development or test data:

* scale 1  → ``postgres://postgres@127.0.0.1:5432/portal_bench``
* scale N  → ``…/portal_bench_N``

``BENCH_DATABASE_URL`` overrides the URL (the scale suffix is then not added),
``BENCH_REDIS_URL`` the Redis database (default ``redis://127.0.0.1:6379/5``).
"""

import os
import sys
from urllib.parse import urlsplit, urlunsplit

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/portal_bench"
DEFAULT_REDIS = "redis://127.0.0.1:6379/5"


def scale_from(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    for i, arg in enumerate(argv):
        if arg.startswith("--scale="):
            return int(arg.split("=", 1)[1])
        if arg == "--scale" and i + 1 < len(argv):
            return int(argv[i + 1])
    return int(os.environ.get("SCALE") or 1)


def database_url(scale: int) -> str:
    if os.environ.get("BENCH_DATABASE_URL"):
        return os.environ["BENCH_DATABASE_URL"]
    if scale == 1:
        return DEFAULT_URL
    parts = urlsplit(DEFAULT_URL)
    return urlunsplit(parts._replace(path=f"{parts.path}_{scale}"))


def configure(scale: int) -> str:
    """Point the project's settings at the bench services; call before ``django.setup()``."""
    url = database_url(scale)
    os.environ["DATABASE_URL"] = url
    # Not the developer's REDIS_URL: the benchmarks clear their cache (API throttling counts).
    os.environ["REDIS_URL"] = os.environ.get("BENCH_REDIS_URL", DEFAULT_REDIS)
    os.environ["DJANGO_SETTINGS_MODULE"] = "partnership.settings"
    # Notifications and reminders e-mail on commit: measure the work, not a console printing.
    os.environ["EMAIL_URL"] = "dummymail://"
    os.environ["DEBUG"] = "False"  # as in production: no query log, cached templates
    os.environ["CACHE_KEY_PREFIX"] = "bench"
    return url


def dsn_parts(url: str) -> dict:
    parts = urlsplit(url)
    return {
        "host": parts.hostname or "127.0.0.1",
        "port": parts.port or 5432,
        "user": parts.username or "postgres",
        "password": parts.password or None,
        "dbname": parts.path.lstrip("/"),
    }
