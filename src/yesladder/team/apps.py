from django.apps import AppConfig


class TeamConfig(AppConfig):
    name = "yesladder.team"
    verbose_name = "Team: roles and the audit trail"
