from django.urls import path  # noqa: F401 (the email endpoints are added here)

app_name = "automation"
urlpatterns: list = []
