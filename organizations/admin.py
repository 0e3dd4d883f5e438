from django.contrib import admin

from .models import Organization, PortalSettings
from .signals import announce_organizations_changed


@admin.register(Organization)
class OrganizationAdmin(admin.ModelAdmin):
    list_display = ["name", "autotask_id", "org_type", "parent", "active"]
    list_filter = ["org_type", "active"]
    list_select_related = ["parent"]
    search_fields = ["name", "=autotask_id"]
    autocomplete_fields = ["parent"]

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        announce_organizations_changed(Organization)

    def delete_model(self, request, obj):
        super().delete_model(request, obj)
        announce_organizations_changed(Organization)

    def delete_queryset(self, request, queryset):
        super().delete_queryset(request, queryset)
        announce_organizations_changed(Organization)


@admin.register(PortalSettings)
class PortalSettingsAdmin(admin.ModelAdmin):
    list_display = ["__str__", "organization_term"]

    def has_add_permission(self, request):
        return not PortalSettings.objects.exists()

    def has_delete_permission(self, request, obj=None):
        return False
