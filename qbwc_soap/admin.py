from django.contrib import admin

from .models import CustomerTransfer, QbwcSession


@admin.register(QbwcSession)
class QbwcSessionAdmin(admin.ModelAdmin):
    list_display = ("connector", "started_at", "status", "qb_product", "added", "updated", "errors")
    list_filter = ("status", "connector")
    list_select_related = ("connector",)
    # Tickets are credentials while a session is live; never shown or edited here.
    exclude = ("ticket",)
    readonly_fields = [f.name for f in QbwcSession._meta.fields if f.name not in ("ticket", "id")]

    def has_add_permission(self, request):
        return False


@admin.register(CustomerTransfer)
class CustomerTransferAdmin(admin.ModelAdmin):
    list_display = ("organization", "connector", "list_id", "transferred_at", "last_error_code")
    list_filter = ("connector",)
    list_select_related = ("organization", "connector")
    search_fields = ("organization__name", "list_id", "qb_name")
    raw_id_fields = ("organization",)
