from django.db import migrations


def schedule(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    every_minute, _ = IntervalSchedule.objects.get_or_create(every=1, period="minutes")
    PeriodicTask.objects.update_or_create(
        name="Send due meeting reminders",
        defaults={"task": "comms.tasks.send_due_reminders", "interval": every_minute, "enabled": True},
    )
    daily, _ = CrontabSchedule.objects.get_or_create(
        minute="45", hour="2", day_of_week="*", day_of_month="*", month_of_year="*", timezone="UTC"
    )
    for name, task in [
        ("Plan reminders of recurring meetings", "comms.tasks.extend_reminder_horizon"),
        ("Remind overdue action items", "comms.tasks.remind_overdue_action_items"),
    ]:
        PeriodicTask.objects.update_or_create(name=name, defaults={"task": task, "crontab": daily, "enabled": True})


class Migration(migrations.Migration):
    dependencies = [
        ("comms", "0001_initial"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(schedule, migrations.RunPython.noop)]
