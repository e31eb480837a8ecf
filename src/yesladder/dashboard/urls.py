from django.urls import path

from yesladder.dashboard import views

app_name = "dashboard"
urlpatterns = [
    path("", views.index, name="index"),
    path("leads/", views.leads, name="leads"),
    path("leads/<int:lead_id>/", views.lead, name="lead"),
    path("leads/<int:lead_id>/export.json", views.export, name="lead-export"),
    path("leads/<int:lead_id>/erase/", views.erase, name="lead-erase"),
    path("emails/", views.emails, name="emails"),
    path("emails/<slug:funnel>/<slug:key>/", views.email, name="email"),
    path("outbox/", views.outbox, name="outbox"),
    path("outbox/<int:message_id>/send-again/", views.send_again, name="send-again"),
]
