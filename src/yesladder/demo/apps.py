from django.apps import AppConfig


class DemoConfig(AppConfig):
    """`yesladder demo`: the example funnels walked by a synthetic crowd, with weeks of history
    after the walk (trials charged, refunds, unsubscribes), then served."""

    name = "yesladder.demo"
