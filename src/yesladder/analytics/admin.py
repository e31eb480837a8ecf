from django.contrib import admin

from yesladder.analytics.models import TrafficCost


@admin.register(TrafficCost)
class TrafficCostAdmin(admin.ModelAdmin):
    list_display = ("day", "source", "clicks", "cost", "currency", "note")
    list_filter = ("source",)
    date_hierarchy = "day"
    search_fields = ("source", "note")
