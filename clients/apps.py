from django.apps import AppConfig


class ClientsConfig(AppConfig):
    name = "clients"
    verbose_name = "Clients and contacts"

    def ready(self) -> None:
        from clients import middleware, receivers, signins, totp_sealing  # noqa: F401  (receivers)

        totp_sealing.install()
