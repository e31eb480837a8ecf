from django.contrib import admin, messages

from yesladder.funnels import money
from yesladder.offers import services
from yesladder.offers.models import Charge, Order, ProviderEvent
from yesladder.offers.payments import ProviderError


class ChargeInline(admin.TabularInline):
    model = Charge
    extra = 0
    can_delete = False
    fields = readonly_fields = (
        "number", "label", "amount_shown", "due_at", "state", "paid_at", "refunded_amount",
        "payment_id", "failure",
    )  # fmt: skip

    @admin.display(description="amount")
    def amount_shown(self, charge: Charge) -> str:
        return money.shown(charge.amount, charge.order.currency)

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    list_display = ("title", "lead", "state", "total_shown", "revenue_shown", "created_at")
    list_filter = ("state", "provider")
    search_fields = ("lead__email", "reference", "checkout_id", "subscription_id")
    inlines = [ChargeInline]
    actions = ["refund", "cancel"]
    readonly_fields = [f.name for f in Order._meta.fields]

    @admin.display(description="total")
    def total_shown(self, order: Order) -> str:
        return money.shown(order.total, order.currency)

    @admin.display(description="revenue (paid less refunds)")
    def revenue_shown(self, order: Order) -> str:
        return money.shown(order.revenue(), order.currency)

    @admin.action(description="Refund inside the money-back guarantee")
    def refund(self, request, queryset) -> None:
        for order in queryset:
            try:
                amount = services.refund(order)
            except (services.RefundRefused, ProviderError) as refused:
                self.message_user(request, f"{order}: not refunded: {refused}", messages.ERROR)
            else:
                shown = money.shown(amount, order.currency)
                self.message_user(request, f"{order}: {shown} refunded", messages.SUCCESS)

    @admin.action(description="Cancel the later charges (the paid ones stay paid)")
    def cancel(self, request, queryset) -> None:
        for order in queryset:
            try:
                terms = services.cancel(order, by_staff=True)
            except (services.CancelRefused, ProviderError) as refused:
                self.message_user(request, f"{order}: not cancelled: {refused}", messages.ERROR)
            else:
                shown = money.shown(terms.amount(), order.currency)
                self.message_user(request, f"{order}: {shown} cancelled", messages.SUCCESS)

    def has_add_permission(self, request) -> bool:
        return False


@admin.register(ProviderEvent)
class ProviderEventAdmin(admin.ModelAdmin):
    list_display = ("provider", "type", "event_id", "received_at")
    list_filter = ("provider", "type")

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
