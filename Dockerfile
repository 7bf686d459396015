# Production image: gunicorn serves the portal; the same image runs the Celery worker and beat.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    DJANGO_SETTINGS_MODULE=partnership.settings STATIC_MANIFEST=True

# WeasyPrint needs Pango and fonts; curl is used by healthchecks.
RUN apt-get update \
 && apt-get install -y --no-install-recommends libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 \
    fonts-dejavu-core fonts-dejavu-extra curl gettext \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY pyproject.toml constraints.txt README.md ./
COPY partnership/ partnership/
COPY contracts/ contracts/
COPY schedules/ schedules/
COPY audits/ audits/
COPY comms/ comms/
COPY integrations/ integrations/
RUN pip install -c constraints.txt .
COPY . .
RUN SECRET_KEY=build-only-not-secret python manage.py collectstatic --noinput \
 && useradd --system --uid 1000 portal && mkdir -p /app/var/media && chown -R portal /app/var
USER portal

EXPOSE 8000
CMD ["gunicorn", "partnership.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3", "--access-logfile", "-"]
