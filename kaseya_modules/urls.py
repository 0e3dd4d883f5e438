from django.urls import path

from . import ignore_views, mapping_views, review_views, views

app_name = "kaseya_modules"
urlpatterns = [
    path("modules/", views.module_list, name="modules"),
    path("modules/sync-email/", views.sync_email, name="sync_email"),
    path("modules/<slug:code>/", views.module_detail, name="module"),
    path("modules/<slug:code>/icb/", views.module_toggle, name="toggle"),
    path("modules/<slug:code>/icb/disable/", views.module_disable, name="disable"),
    path("modules/<slug:code>/sync/", views.module_sync, name="sync"),
    path("modules/<slug:code>/status/", views.module_status, name="status"),
    path(
        "modules/<slug:code>/organizations/typeahead/",
        mapping_views.module_org_typeahead,
        name="module_org_typeahead",
    ),
    path("mapping/", mapping_views.mapping_home, name="mapping"),
    path("mapping/export/", mapping_views.mapping_export, name="mapping_export"),
    path("mapping/import/", mapping_views.mapping_import, name="mapping_import"),
    path("mapping/organizations/", mapping_views.map_by_organization, name="map_by_organization"),
    path("mapping/organizations/columns/", mapping_views.map_columns, name="map_columns"),
    path(
        "mapping/organizations/<int:organization_pk>/<slug:code>/",
        mapping_views.map_cell,
        name="map_cell",
    ),
    path(
        "mapping/module-organizations/",
        mapping_views.map_by_module_organization,
        name="map_by_module_organization",
    ),
    path(
        "mapping/module-organizations/bulk/",
        mapping_views.module_org_bulk,
        name="module_org_bulk",
    ),
    path(
        "mapping/module-organizations/<int:pk>/",
        mapping_views.module_org_row,
        name="module_org_row",
    ),
    path("mapping/review/", review_views.review_suggestions, name="review_suggestions"),
    path("mapping/review/accept/", review_views.accept_suggestions, name="accept_suggestions"),
    path(
        "organizations/<int:pk>/mappings/",
        mapping_views.organization_mappings,
        name="organization_mappings",
    ),
    path("mapping/organizations/bulk-ignore/", ignore_views.bulk_ignore, name="bulk_ignore"),
    path(
        "mapping/ignore-without-evidence/",
        ignore_views.ignore_without_evidence,
        name="ignore_without_evidence",
    ),
    path("mapping/bulk-actions/", ignore_views.bulk_actions, name="bulk_actions"),
    path(
        "mapping/bulk-actions/<int:pk>/undo/",
        ignore_views.undo_bulk_action,
        name="undo_bulk_action",
    ),
]
