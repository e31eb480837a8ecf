from django.apps import AppConfig


class OffersConfig(AppConfig):
    name = "yesladder.offers"
    verbose_name = "Offers, orders and payments"
