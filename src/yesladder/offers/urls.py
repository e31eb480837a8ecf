from django.urls import path

from yesladder.offers import views

app_name = "offers"
urlpatterns = [
    path("o/<str:token>/", views.order_page, name="order"),
    path("o/<str:token>/cancel/", views.cancel, name="cancel"),
    path("o/<str:token>/card/", views.card, name="card"),
    path("o/<str:token>/pay/", views.pay, name="pay"),
    path("o/<str:token>/done/", views.done, name="done"),
    path("pay/test/<str:checkout_id>/", views.test_pay, name="test-pay"),
    path("webhooks/stripe/", views.stripe_webhook, name="stripe-webhook"),
]
