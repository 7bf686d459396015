from django.core.management.base import BaseCommand
from django.test import override_settings

from partnership.demo import DEMO_PASSWORD, load_demo_data


class Command(BaseCommand):
    help = "Load realistic demo organisations, partnerships and users (idempotent)."

    def handle(self, *args, **options):
        # The demo's own notifications would flood the console: keep them in memory.
        with override_settings(EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend"):
            logins = load_demo_data()
        width = max(len(email) for _org, _role, email in logins)
        self.stdout.write(
            self.style.SUCCESS("Demo data loaded. Log in at http://127.0.0.1:8000 with:")
        )
        for org, role, email in logins:
            self.stdout.write(f"  {email:<{width}}  {role:<22} {org}")
        self.stdout.write(f"  password for every demo user: {DEMO_PASSWORD}")
