from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ContractsConfig(AppConfig):
    name = "contracts"
    verbose_name = _("Contracts")

    def ready(self):
        from partnership.registry import register_history_kind

        from . import events, subscribers, trail  # noqa: F401  (subscribers register on import)

        events.register()
        register_history_kind(*trail.KINDS)
