from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CommsConfig(AppConfig):
    name = "comms"
    verbose_name = _("Comms")

    def ready(self):
        from . import events, subscribers  # noqa: F401 (subscribers: registered on import)

        events.register()
