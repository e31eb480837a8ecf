from django.urls import path

from yesladder.steps import views

app_name = "steps"
urlpatterns = [
    path("f/<slug:funnel>/", views.entry, name="entry"),
    path("f/<slug:funnel>/<slug:step>/", views.step, name="step"),
    path("p/<str:token>/", views.preview, name="preview"),
    path("p/<str:token>/<slug:step>/", views.preview, name="preview"),
    path("d/<str:token>/", views.download, name="download"),
    path("c/<str:token>/", views.confirm, name="confirm"),
    path("assets/<path:name>", views.asset, name="asset"),
]
