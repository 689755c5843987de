from django.apps import AppConfig


class ClientsConfig(AppConfig):
    name = "clients"
    verbose_name = "Clients and contacts"

    def ready(self) -> None:
        from clients import middleware  # noqa: F401  (connects the session clock to logins)
