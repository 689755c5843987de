from django.apps import AppConfig


class BackupsConfig(AppConfig):
    """Backup and restore of one installation: services, the database copy, the archive format
    and its crypto, and the ``backup`` / ``restore`` commands."""

    name = "backups"
    verbose_name = "Backups"
