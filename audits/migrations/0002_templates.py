from django.db import migrations


def install(apps, schema_editor):
    from audits.template_data import install as install_templates

    install_templates(
        apps.get_model("audits", "AuditTemplate"),
        apps.get_model("audits", "TemplateSection"),
        apps.get_model("audits", "TemplateQuestion"),
    )


def schedule(apps, schema_editor):
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    daily, _ = CrontabSchedule.objects.get_or_create(
        minute="0", hour="6", day_of_week="*", day_of_month="*", month_of_year="*", timezone="UTC"
    )
    for name, task in [
        ("Certificate expiry warnings", "audits.tasks.check_certificates"),
        ("Remind overdue corrective actions", "audits.tasks.remind_overdue_actions"),
    ]:
        PeriodicTask.objects.update_or_create(name=name, defaults={"task": task, "crontab": daily, "enabled": True})


class Migration(migrations.Migration):
    dependencies = [
        ("audits", "0001_initial"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [
        migrations.RunPython(install, migrations.RunPython.noop),
        migrations.RunPython(schedule, migrations.RunPython.noop),
    ]
