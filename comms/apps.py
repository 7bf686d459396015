from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CommsConfig(AppConfig):
    name = "comms"
    verbose_name = _("Comms")

    def ready(self):
        from partnership.registry import register_history_kind

        from . import events, subscribers, trail  # noqa: F401  (subscribers register on import)

        events.register()
        register_history_kind(*trail.KINDS)
