from django.urls import path

from . import views

app_name = "connectors"
urlpatterns = [
    path("connectors/", views.connector_list, name="list"),
    path("connectors/add/", views.connector_add, name="add"),
    path("connectors/<int:pk>/", views.connector_detail, name="detail"),
    path("connectors/<int:pk>/edit/", views.connector_edit, name="edit"),
    path("connectors/<int:pk>/password/", views.connector_reset_password, name="reset_password"),
    path("connectors/<int:pk>/qwc/", views.connector_qwc, name="qwc"),
    path("connectors/<int:pk>/make-default/", views.connector_make_default, name="make_default"),
    path(
        "connectors/<int:pk>/accept-company-file/",
        views.connector_accept_company_file,
        name="accept_company_file",
    ),
    path("connectors/<int:pk>/delete/", views.connector_delete, name="delete"),
    path("mappings/", views.mapping_list, name="mapping_list"),
    path("mappings/export/", views.mapping_export, name="mapping_export"),
    path("mappings/import/", views.mapping_import, name="mapping_import"),
    path("mappings/new/", views.mapping_new, name="mapping_new"),
    path("mappings/<int:pk>/edit/", views.mapping_edit, name="mapping_edit"),
    path("mappings/<int:pk>/remove/", views.mapping_remove, name="mapping_remove"),
    path(
        "mappings/organization/<int:organization_pk>/",
        views.organization_mapping,
        name="organization_mapping",
    ),
]
