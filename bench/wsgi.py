"""WSGI entry point for the load and memory benchmarks: the portal plus the floor view.

Run by gunicorn with the environment of :func:`bench.common.configure`.
"""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "partnership.settings")

from django.conf import settings
from django.core.wsgi import get_wsgi_application

settings.ROOT_URLCONF = "bench.urls"
application = get_wsgi_application()
