from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from mapping_portal.lib.body_limit import LOGIN_MAX_BODY_BYTES, max_body_bytes
from organizations import views as organization_views

login_body_limit = max_body_bytes(LOGIN_MAX_BODY_BYTES)

urlpatterns = [
    path("", organization_views.home, name="home"),
    path("login/", login_body_limit(auth_views.LoginView.as_view()), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("organizations/", include("organizations.urls")),
    path("quickbooks/", include("connectors.urls")),
    path("qbwc/", include("qbwc_soap.urls")),
    path("kaseya/", include("kaseya_modules.urls")),
    path("billing/", include("billing.urls")),
    # The admin's own log-in view, matched first only to give it the log-in body limit.
    path("django-admin/login/", login_body_limit(admin.site.login)),
    path("django-admin/", admin.site.urls),
]
