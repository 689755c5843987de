from django.apps import AppConfig


class InvoiceportalConfig(AppConfig):
    name = "invoiceportal"
    verbose_name = "invoiceportal"

    def ready(self) -> None:
        from invoiceportal import checks  # noqa: F401  (registers the start-up checks)
