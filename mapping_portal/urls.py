from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from organizations import views as organization_views

urlpatterns = [
    path("", organization_views.home, name="home"),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("organizations/", include("organizations.urls")),
    path("quickbooks/", include("connectors.urls")),
    path("qbwc/", include("qbwc_soap.urls")),
    path("kaseya/", include("kaseya_modules.urls")),
    path("django-admin/", admin.site.urls),
]
