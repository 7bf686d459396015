from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class IntegrationsConfig(AppConfig):
    name = "integrations"
    verbose_name = _("ERP integration")

    def ready(self):
        from . import tombstones, webhooks  # noqa: F401  (subscribers of the event path)

        tombstones.connect()
