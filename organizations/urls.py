from django.urls import path

from . import psa_views, views

app_name = "organizations"
urlpatterns = [
    path("", views.organization_list, name="list"),
    path("<int:pk>/", views.organization_detail, name="detail"),
    path("typeahead/", views.typeahead, name="typeahead"),
    path("browse/", views.browse, name="browse"),
    path("import/", views.import_csv, name="import"),
    path("term/", views.term_settings, name="term"),
    path("psa/", psa_views.psa_settings, name="psa"),
    path("psa/sync/", psa_views.psa_sync_now, name="psa_sync"),
    path("psa/status/", psa_views.psa_status, name="psa_status"),
]
