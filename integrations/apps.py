from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class IntegrationsConfig(AppConfig):
    name = "integrations"
    verbose_name = _("ERP integration")

    def ready(self):
        from . import tombstones

        tombstones.connect()
        from . import webhook_signals  # noqa: F401  (outgoing webhooks' receivers)
