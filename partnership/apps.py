from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PartnershipConfig(AppConfig):
    name = "partnership"
    verbose_name = _("Partnerships")

    def ready(self):
        # The audit trail subscribes to the event path (partnership.events).
        from . import history, registry

        registry.register_history_kind(*history.KINDS_LIST)
