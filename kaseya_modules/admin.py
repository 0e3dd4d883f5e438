from django import forms
from django.contrib import admin

from .models import KaseyaModule, ModuleOrganization, ModuleUsage, SyncRun


class KaseyaModuleAdminForm(forms.ModelForm):
    credentials = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="Leave blank to keep the stored token.",
    )

    class Meta:
        model = KaseyaModule
        fields = [
            "code",
            "name",
            "billing_types",
            "icb_enabled",
            "source_kind",
            "base_url",
            "credentials",
        ]

    def clean_credentials(self):
        # The stored token is never rendered back, so blank means "keep it".
        return self.cleaned_data["credentials"] or self.instance.credentials


@admin.register(KaseyaModule)
class KaseyaModuleAdmin(admin.ModelAdmin):
    form = KaseyaModuleAdminForm

    def save_model(self, request, obj, form, change):
        # Enabling goes through the service so the admin also queues the first sync.
        enabling = obj.icb_enabled and not (change and form.initial.get("icb_enabled"))
        if enabling:
            obj.icb_enabled = False
        super().save_model(request, obj, form, change)
        if enabling:
            from . import services

            services.enable_icb(obj, request.user)

    list_display = ["name", "code", "icb_enabled", "source_kind", "first_sync_completed_at"]
    list_filter = ["icb_enabled", "source_kind"]
    search_fields = ["name", "code"]
    readonly_fields = [
        "icb_enabled_at",
        "icb_enabled_by",
        "first_sync_completed_at",
        "last_sync_succeeded_at",
        "masked_credentials",
    ]


@admin.register(ModuleOrganization)
class ModuleOrganizationAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "module",
        "kind",
        "external_id",
        "parent",
        "organization",
        "ignored",
        "active",
    ]
    list_filter = ["module", "kind", "active", "ignored"]
    list_select_related = ["module", "parent", "organization"]
    search_fields = ["name", "external_id"]
    raw_id_fields = ["parent", "organization"]
    readonly_fields = ["first_seen_at", "last_seen_at"]


@admin.register(ModuleUsage)
class ModuleUsageAdmin(admin.ModelAdmin):
    list_display = ["module_organization", "billing_type", "day", "quantity"]
    list_filter = ["day", "module_organization__module"]
    list_select_related = ["module_organization__module"]
    raw_id_fields = ["module_organization"]
    date_hierarchy = "day"


@admin.register(SyncRun)
class SyncRunAdmin(admin.ModelAdmin):
    list_display = [
        "module",
        "trigger",
        "status",
        "queued_at",
        "finished_at",
        "new_count",
        "updated_count",
        "deactivated_count",
        "unchanged_count",
    ]
    list_filter = ["status", "trigger", "module"]
    list_select_related = ["module"]
    readonly_fields = [field.name for field in SyncRun._meta.fields]
