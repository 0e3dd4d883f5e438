from django.contrib import admin

from .models import Organization, PortalSettings


@admin.register(Organization)
class OrganizationAdmin(admin.ModelAdmin):
    list_display = ["name", "autotask_id", "org_type", "parent", "active"]
    list_filter = ["org_type", "active"]
    list_select_related = ["parent"]
    search_fields = ["name", "=autotask_id"]
    autocomplete_fields = ["parent"]


@admin.register(PortalSettings)
class PortalSettingsAdmin(admin.ModelAdmin):
    list_display = ["__str__", "organization_term"]

    def has_add_permission(self, request):
        return not PortalSettings.objects.exists()

    def has_delete_permission(self, request, obj=None):
        return False
