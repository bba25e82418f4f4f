from django.apps import AppConfig


class MemberappConfig(AppConfig):
    name = "tests.memberapp"
    label = "memberapp"
    default_auto_field = "django.db.models.BigAutoField"
