from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "chalkboard.accounts"
