from django.urls import path

from yesladder.dashboard import views
from yesladder.dashboard.orders import views as orders

app_name = "dashboard"
urlpatterns = [
    path("", views.index, name="index"),
    path("funnels/", views.funnels, name="funnels"),
    path("funnels/<slug:key>/", views.funnel, name="funnel"),
    path("funnels/<slug:key>/experiments/", views.experiments, name="experiments"),
    path(
        "funnels/<slug:key>/experiments/<slug:experiment>/<slug:variant>.svg",
        views.experiment_chart,
        name="experiment-chart",
    ),  # fmt: skip
    path("funnels/<slug:key>/chart.svg", views.funnel_chart, name="funnel-chart"),
    path("funnels/<slug:key>/export.csv", views.funnel_csv, name="funnel-csv"),
    path("funnels/<slug:key>/export.json", views.funnel_json, name="funnel-json"),
    path("funnels/<slug:key>/orders-at-risk/", orders.at_risk, name="orders-at-risk"),
    path("funnels/<slug:key>/orders/<int:order_id>/cancel/", orders.cancel, name="order-cancel"),
    path("leads/", views.leads, name="leads"),
    path("leads/<int:lead_id>/", views.lead, name="lead"),
    path("leads/<int:lead_id>/export.json", views.export, name="lead-export"),
    path("leads/<int:lead_id>/erase/", views.erase, name="lead-erase"),
    path("emails/", views.emails, name="emails"),
    path("emails/<slug:funnel>/<slug:key>/", views.email, name="email"),
    path("outbox/", views.outbox, name="outbox"),
    path("outbox/<int:message_id>/send-again/", views.send_again, name="send-again"),
]
