from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError

from .models import (
    KaseyaModule,
    ModuleColumnPreference,
    ModuleMappingChange,
    ModuleOrganization,
    ModuleUsage,
    OrganizationModuleIgnore,
    SyncRun,
)


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


class ModuleOrganizationAdminForm(forms.ModelForm):
    """ModuleOrganization.clean() applies the mapping rules; `rendered_state` carries the mapping
    the form was rendered with, so that a save over someone else's change is refused."""

    rendered_state = forms.CharField(required=False, widget=forms.HiddenInput)

    class Meta:
        model = ModuleOrganization
        fields = [
            "module",
            "external_id",
            "name",
            "parent",
            "kind",
            "active",
            "organization",
            "ignored",
        ]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields["rendered_state"].initial = self.state_token(
                self.instance.organization_id, self.instance.ignored
            )

    @staticmethod
    def state_token(organization_id, ignored) -> str:
        return f"{organization_id or ''}:{'1' if ignored else '0'}"

    def expected(self):
        """The ModuleOrgState the form was rendered with (the current one if not posted)."""
        from .mapping import ModuleOrgState

        token = self.cleaned_data.get("rendered_state") or ""
        org, _, ignored = token.partition(":")
        if not token or (org and not org.isdigit()):
            return ModuleOrgState(self.instance_state[0], self.instance_state[1])
        return ModuleOrgState(int(org) if org else None, ignored == "1")

    def clean(self):
        data = super().clean()
        self.instance_state = (None, False)
        if self.instance.pk:
            current = (
                ModuleOrganization.objects.filter(pk=self.instance.pk)
                .values_list("organization_id", "ignored")
                .first()
            )
            self.instance_state = tuple(current) if current else (None, False)
            rendered = data.get("rendered_state")
            if rendered and current is not None and self.state_token(*current) != rendered:
                raise forms.ValidationError(
                    "Someone else changed this module organization's mapping while you were "
                    "editing it. Reload the page to see the current value; nothing was saved.",
                    code="conflict",
                )
        return data


@admin.register(ModuleOrganization)
class ModuleOrganizationAdmin(admin.ModelAdmin):
    form = ModuleOrganizationAdminForm

    def save_model(self, request, obj, form, change):
        # The mapping itself goes through the services, so the admin writes history and checks
        # the same rules (and the same expected value) as the mapping pages.
        from django.contrib import messages

        from . import mapping

        new_org, new_ignored = obj.organization, obj.ignored
        before = form.expected() if change else mapping.ModuleOrgState(None, False)
        obj.organization_id, obj.ignored = before.organization_id, before.ignored
        if change:
            fields = [
                f
                for f in form.changed_data
                if f in {field.name for field in ModuleOrganization._meta.concrete_fields}
                and f not in ("organization", "ignored")
            ]
            if fields:
                obj.save(update_fields=fields)
        else:
            obj.save()
        try:
            if new_ignored and not before.ignored:
                mapping.ignore_module_organization(obj, request.user, expected=before)
            elif new_org is not None and new_org.pk != before.organization_id:
                mapping.map_module_organization(obj, new_org, request.user, expected=before)
            elif new_org is None and before.organization_id is not None:
                mapping.unmap_module_organization(obj, request.user, expected=before)
            elif not new_ignored and before.ignored:
                mapping.unignore_module_organization(obj, request.user, expected=before)
        except ValidationError as exc:
            self.message_user(request, " ".join(exc.messages), messages.ERROR)
        obj.refresh_from_db()

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
    # parent__module: a parent's name includes its module's, one query per row otherwise.
    list_select_related = ["module", "parent__module", "organization"]
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
        "stopped_by",
        "queued_at",
        "finished_at",
        "new_count",
        "updated_count",
        "deactivated_count",
        "unchanged_count",
    ]
    list_filter = ["status", "stopped_by", "trigger", "module"]
    list_select_related = ["module"]
    # Spelled out: the fields shared with every run (mapping_portal.lib.runs) come first in _meta.
    readonly_fields = [
        "id",
        "module",
        "trigger",
        "requested_by",
        "queued_at",
        "started_at",
        "finished_at",
        "status",
        "pages_fetched",
        "organizations_fetched",
        "new_count",
        "updated_count",
        "deactivated_count",
        "unchanged_count",
        "error",
        "stopped_by",
        "notified_at",
    ]


@admin.register(ModuleMappingChange)
class ModuleMappingChangeAdmin(admin.ModelAdmin):
    list_display = [
        "changed_at",
        "module",
        "action",
        "module_organization_name",
        "old_organization_name",
        "new_organization_name",
        "changed_by",
    ]
    list_filter = ["action", "module"]
    list_select_related = ["module", "changed_by"]
    readonly_fields = [field.name for field in ModuleMappingChange._meta.fields]

    def has_add_permission(self, request):
        return False  # history is written by the services only


@admin.register(OrganizationModuleIgnore)
class OrganizationModuleIgnoreAdmin(admin.ModelAdmin):
    list_display = ["organization", "module", "created_by", "created_at"]
    list_filter = ["module"]
    list_select_related = ["organization", "module", "created_by"]
    readonly_fields = ["organization", "module", "created_by", "created_at"]

    def has_add_permission(self, request):
        return False  # ignores are made on the mapping pages, through the services

    def has_delete_permission(self, request, obj=None):
        return False  # un-ignoring goes through the services too, so it is recorded


admin.site.register(ModuleColumnPreference)
