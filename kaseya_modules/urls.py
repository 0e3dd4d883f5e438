from django.urls import path

from . import views

app_name = "kaseya_modules"
urlpatterns = [
    path("modules/", views.module_list, name="modules"),
    path("modules/<slug:code>/", views.module_detail, name="module"),
    path("modules/<slug:code>/icb/", views.module_toggle, name="toggle"),
    path("modules/<slug:code>/sync/", views.module_sync, name="sync"),
    path("modules/<slug:code>/status/", views.module_status, name="status"),
]
