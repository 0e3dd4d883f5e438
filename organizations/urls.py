from django.urls import path

from . import views

app_name = "organizations"
urlpatterns = [
    path("", views.organization_list, name="list"),
    path("<int:pk>/", views.organization_detail, name="detail"),
    path("typeahead/", views.typeahead, name="typeahead"),
    path("browse/", views.browse, name="browse"),
    path("import/", views.import_csv, name="import"),
    path("term/", views.term_settings, name="term"),
]
