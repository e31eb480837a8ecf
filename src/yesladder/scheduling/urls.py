from django.urls import path

from yesladder.scheduling import views

app_name = "scheduling"
urlpatterns = [
    path("b/<str:token>/", views.booking, name="booking"),
    path("b/<str:token>/outcome/", views.outcome, name="outcome"),
    path("b/<str:token>/ics/", views.booking_ics, name="booking-ics"),
    path("s/<str:token>/", views.registration, name="registration"),
    path("s/<str:token>/ics/", views.registration_ics, name="registration-ics"),
    path("s/<str:token>/join/", views.join, name="join"),
]
