from django.urls import path

from yesladder.dashboard import views
from yesladder.dashboard.attendance import views as attendance
from yesladder.dashboard.editor import views as editor
from yesladder.dashboard.lists import views as lists
from yesladder.dashboard.orders import views as orders
from yesladder.dashboard.staff import views as staff

app_name = "dashboard"
urlpatterns = [
    path("", views.index, name="index"),
    path("funnels/", views.funnels, name="funnels"),
    path("funnels/<slug:key>/", views.funnel, name="funnel"),
    path("funnels/<slug:key>/edit/", editor.edit, name="editor"),
    path("funnels/<slug:key>/edit/check/", editor.check, name="editor-check"),
    path("funnels/<slug:key>/versions/", editor.versions, name="versions"),
    path("funnels/<slug:key>/versions/<int:number>/rollback/", editor.rollback, name="rollback"),
    path("new-funnel/", editor.new, name="new-funnel"),
    path("new-funnel/check/", editor.check, name="new-funnel-check"),
    path("funnels/<slug:key>/experiments/", views.experiments, name="experiments"),
    path(
        "funnels/<slug:key>/experiments/<slug:experiment>/<slug:variant>.svg",
        views.experiment_chart,
        name="experiment-chart",
    ),  # fmt: skip
    path(
        "funnels/<slug:key>/experiments/<slug:experiment>/stop/",
        views.experiment_action,
        {"action": "stop"},
        name="experiment-stop",
    ),
    path(
        "funnels/<slug:key>/experiments/<slug:experiment>/ship/",
        views.experiment_action,
        {"action": "ship"},
        name="experiment-ship",
    ),
    path("funnels/<slug:key>/chart.svg", views.funnel_chart, name="funnel-chart"),
    path("funnels/<slug:key>/export.csv", views.funnel_csv, name="funnel-csv"),
    path("funnels/<slug:key>/export.json", views.funnel_json, name="funnel-json"),
    path("funnels/<slug:key>/orders-at-risk/", orders.at_risk, name="orders-at-risk"),
    path("funnels/<slug:key>/orders/<int:order_id>/cancel/", orders.cancel, name="order-cancel"),
    path("funnels/<slug:key>/attendance/", attendance.attendance, name="attendance"),
    path(
        "funnels/<slug:key>/attendance/calls/<int:booking_id>/",
        attendance.mark_call,
        name="attendance-call",
    ),
    path(
        "funnels/<slug:key>/attendance/seats/<int:registration_id>/",
        attendance.mark_seat,
        name="attendance-seat",
    ),
    path("leads/", views.leads, name="leads"),
    path("leads/export.csv", lists.export_csv, name="leads-csv"),
    path("leads/import/", lists.import_leads, name="leads-import"),
    path("leads/import/<int:run_id>/", lists.import_run, name="leads-import-run"),
    path(
        "leads/import/<int:run_id>/progress.json",
        lists.import_progress,
        name="leads-import-progress",
    ),  # fmt: skip
    path("leads/tag/", lists.tag_list, name="leads-tag"),
    path("leads/<int:lead_id>/act/", lists.lead_action, name="lead-act"),
    path("leads/<int:lead_id>/", views.lead, name="lead"),
    path("leads/<int:lead_id>/export.json", views.export, name="lead-export"),
    path("leads/<int:lead_id>/erase/", views.erase, name="lead-erase"),
    path("emails/", views.emails, name="emails"),
    path("emails/<slug:funnel>/<slug:key>/", views.email, name="email"),
    path("outbox/", views.outbox, name="outbox"),
    path("outbox/<int:message_id>/send-again/", views.send_again, name="send-again"),
    path("team/", staff.team, name="team"),
    path("team/<int:user_id>/role/", staff.change_role, name="team-role"),
    path("audit/", staff.trail, name="audit"),
]
