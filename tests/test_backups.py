"""Backups as README "Backups" describes them: ``pg_dump -Fc`` of the database, restored with
``pg_restore`` into an empty database, holds the data (and the uploaded files' paths)."""

import subprocess
import uuid

import pytest
from django.conf import settings

from comms import services as comms_services


def pg_args():
    db = settings.DATABASES["default"]
    args = ["-h", db.get("HOST") or "127.0.0.1", "-p", str(db.get("PORT") or 5432)]
    return [*args, "-U", db.get("USER") or "postgres"]


def run(*command, **kwargs):
    env = {"PGPASSWORD": settings.DATABASES["default"].get("PASSWORD") or ""}
    return subprocess.run(
        command, check=True, capture_output=True, text=True, timeout=300, env=env, **kwargs
    )


@pytest.mark.django_db(transaction=True)
def test_pg_dump_restores_into_a_fresh_database(world, tmp_path):
    marker = f"Backup marker {uuid.uuid4()}"
    problem = comms_services.raise_problem(
        by=world.account_manager,
        partnership=world.ours,
        title=marker,
        severity="high",
        description="Must survive a restore.",
    )
    source = settings.DATABASES["default"]["NAME"]
    target = f"{source}_restore_{uuid.uuid4().hex[:8]}"
    dump = tmp_path / "portal.dump"

    run("pg_dump", *pg_args(), "-Fc", "--no-owner", "-f", str(dump), source)
    assert dump.stat().st_size > 10_000
    run("createdb", *pg_args(), target)
    try:
        run("pg_restore", *pg_args(), "--no-owner", "--exit-on-error", "-d", target, str(dump))
        query = (
            "SELECT p.title, o.name FROM comms_problem p "
            "JOIN partnership_partnership pp ON pp.id = p.partnership_id "
            "JOIN partnership_organization o ON o.id = pp.oem_id "
            f"WHERE p.id = {problem.pk}"
        )
        out = run("psql", *pg_args(), "-d", target, "-At", "-c", query).stdout.strip()
        assert out == f"{marker}|{world.oem.name}"
        migrations = run(
            "psql", *pg_args(), "-d", target, "-At", "-c", "SELECT count(*) FROM django_migrations"
        ).stdout.strip()
        assert int(migrations) > 20  # the schema's history came along: `migrate` is a no-op
    finally:
        run("dropdb", *pg_args(), "--if-exists", target)
