from django.contrib import admin, messages
from django.core.exceptions import ValidationError

from . import services
from .models import MappingChange, OrganizationConnectorMapping, WebConnector


@admin.register(WebConnector)
class WebConnectorAdmin(admin.ModelAdmin):
    list_display = ["name", "username", "company_file", "is_default", "active"]
    readonly_fields = [
        "pending_company_file",
        "is_default",
        "owner_id",
        "file_id",
        "created_at",
        "updated_at",
    ]
    search_fields = ["name", "username"]

    def delete_model(self, request, obj):
        try:
            obj.delete()
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))

    def has_delete_permission(self, request, obj=None):
        return obj is None or not obj.is_default

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            self.delete_model(request, obj)


@admin.register(OrganizationConnectorMapping)
class MappingAdmin(admin.ModelAdmin):
    list_display = ["organization", "connector", "changed_by", "changed_at"]
    list_select_related = ["organization", "connector", "changed_by"]
    autocomplete_fields = ["organization"]
    readonly_fields = ["changed_by", "changed_at"]
    search_fields = ["organization__name"]

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "connector":
            kwargs["queryset"] = WebConnector.objects.mappable()
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def save_model(self, request, obj, form, change):
        # Through the service, so history is recorded and the rules apply as on every path.
        services.map_organization(obj.organization, obj.connector, request.user)

    def delete_model(self, request, obj):
        services.unmap_organization(obj.organization, request.user)

    def delete_queryset(self, request, queryset):
        for obj in queryset.select_related("organization"):
            services.unmap_organization(obj.organization, request.user)


@admin.register(MappingChange)
class MappingChangeAdmin(admin.ModelAdmin):
    list_display = [
        "organization",
        "old_connector_name",
        "new_connector_name",
        "changed_by",
        "changed_at",
    ]
    list_select_related = ["organization", "changed_by"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
