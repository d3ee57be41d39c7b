from django.apps import AppConfig


class CustodyConfig(AppConfig):
    name = "custody"
    verbose_name = "Custody and security"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from custody import signals  # noqa: F401  (staff logins into the audit log)
