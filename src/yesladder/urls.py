from django.contrib import admin
from django.urls import include, path

from yesladder.tracking.api import api as tracking_api

urlpatterns = [
    path("v1/", tracking_api.urls),
    path("", include("yesladder.steps.urls")),
    path("", include("yesladder.scheduling.urls")),
    path("", include("yesladder.offers.urls")),
    path("", include("yesladder.automation.urls")),
    path("dashboard/", include("yesladder.dashboard.urls")),
    path("admin/", admin.site.urls),
    path("", include("yesladder.operations.urls")),
]
