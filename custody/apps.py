from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps


class CustodyConfig(AppConfig):
    name = "custody"
    verbose_name = "Custody and security"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from custody import signals  # noqa: F401  (staff logins into the audit log)


class StaffAdminConfig(admin_apps.AdminConfig):
    """Django's admin, on a site that requires a second factor (django-otp) from every staff member."""

    default = False  # named in INSTALLED_APPS in place of django.contrib.admin; custody's own config is CustodyConfig
    default_site = "custody.staff_otp.StaffOTPAdminSite"
