from django.urls import path, re_path

from yesladder.automation import views

app_name = "automation"
urlpatterns = [
    path("e/u/<str:token>/", views.unsubscribe, name="unsubscribe"),
    path("e/c/<str:token>/", views.click, name="click"),
    re_path(r"^e/o/(?P<token>[^/]+)\.gif$", views.pixel, name="open"),
    path("webhooks/email/<slug:esp>/tracking/", views.provider_webhook, name="provider-webhook"),
]
