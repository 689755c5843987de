from django.apps import AppConfig


class CoreConfig(AppConfig):
    """Small shared pieces every app may use: token primitives, project-wide signals, password
    hashers, the outbox mail backend, middleware, log filters, admin link helpers and the
    environment readers. It imports no other app of the project (docs/architecture.md)."""

    name = "core"
    verbose_name = "Core"
