"""Production configuration: the deploy check is clean and the compose file is valid."""

import os
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def production_env(**overrides):
    """The test process's environment minus what only tests may set."""
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"}
    return {**env, "DEBUG": "False", **overrides}


def test_production_settings_pass_check_deploy_without_warnings():
    env = production_env(
        SECRET_KEY=secrets.token_urlsafe(50),
        ALLOWED_HOSTS="portal.example.com",
        SECURE_SSL_REDIRECT="True",
        SECURE_HSTS_SECONDS="31536000",
        SECURE_HSTS_INCLUDE_SUBDOMAINS="True",
        SECURE_HSTS_PRELOAD="True",
    )
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_insecure_default_secret_key_is_caught_by_the_deploy_check():
    env = production_env()
    env.pop("SECRET_KEY", None)
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0 and "SECRET_KEY" in result.stdout + result.stderr


def test_docker_compose_file_is_valid():
    docker_compose = shutil.which("docker-compose")
    if docker_compose is None:
        pytest.fail(
            "docker-compose is not installed: .ci/run installs it (apt-get install docker-compose)"
        )
    result = subprocess.run(
        [docker_compose, "-f", "docker-compose.yml", "config", "-q"],
        cwd=ROOT,
        env={**os.environ, "SECRET_KEY": "compose-check"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    services = subprocess.run(
        [docker_compose, "-f", "docker-compose.yml", "config", "--services"],
        cwd=ROOT,
        env={**os.environ, "SECRET_KEY": "compose-check"},
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout.split()
    assert {"postgres", "redis", "web", "worker", "beat", "mailpit"} <= set(services)


def test_no_model_change_is_missing_a_migration():
    result = subprocess.run(
        [sys.executable, "manage.py", "makemigrations", "--check", "--dry-run"],
        cwd=ROOT,
        env=production_env(SECRET_KEY="x" * 60),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


# The pages of the demo that the embedded-defaults check opens as the demo OEM buyer.
DEMO_PAGES_SCRIPT = """
import django
django.setup()
from django.test import Client
from partnership.models import Partnership
p = Partnership.objects.get(oem__slug="nordwind", ems__slug="baltic")
client = Client(HTTP_HOST="127.0.0.1")
assert client.login(email="buyer@nordwind.example", password="portal-demo-2026")
for path in ["/", f"/partnerships/{p.pk}/", f"/partnerships/{p.pk}/capacity/",
             f"/partnerships/{p.pk}/products/", f"/partnerships/{p.pk}/runs/",
             f"/partnerships/{p.pk}/audits/", f"/partnerships/{p.pk}/meetings/",
             f"/partnerships/{p.pk}/problems/", f"/partnerships/{p.pk}/audit-trail/",
             f"/partnerships/{p.pk}/export/demand.xlsx"]:
    response = client.get(path)
    assert response.status_code == 200, (path, response.status_code)
print("ok")
"""


def test_make_run_works_on_the_embedded_defaults(tmp_path):
    """What `make run` does on a fresh machine — migrate and load the demo on SQLite with the
    filesystem broker, no DATABASE_URL or REDIS_URL — then the main pages answer. (Everything
    else runs on PostgreSQL; this catches SQL only PostgreSQL understands.)"""
    env = {
        k: v for k, v in production_env(DEBUG="1").items() if k not in ("DATABASE_URL", "REDIS_URL")
    }
    env |= {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'demo.sqlite3'}",
        "MEDIA_ROOT": str(tmp_path / "media"),
        "DJANGO_SETTINGS_MODULE": "partnership.settings",
    }
    for command in (["migrate", "--noinput"], ["seed_demo"]):
        result = subprocess.run(
            [sys.executable, "manage.py", *command],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    result = subprocess.run(
        [sys.executable, "-c", DEMO_PAGES_SCRIPT],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0 and "ok" in result.stdout, result.stdout + result.stderr[-3000:]
