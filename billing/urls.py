from django.urls import path

from . import invoice_views, views

app_name = "billing"
urlpatterns = [
    path("prices/", views.prices, name="prices"),
    path("prices/organizations/<int:organization_pk>/", views.prices, name="organization_prices"),
    path("prices/<slug:code>/<slug:billing_type>/", views.price_edit, name="price_edit"),
    path(
        "prices/<slug:code>/<slug:billing_type>/organizations/<int:organization_pk>/",
        views.price_edit,
        name="organization_price_edit",
    ),
    path("items/", views.item_mapping_home, name="item_mapping_home"),
    path("connectors/<int:pk>/items/", views.item_mapping, name="item_mapping"),
    path("connectors/<int:pk>/items/refresh/", views.item_refresh, name="item_refresh"),
    path(
        "connectors/<int:pk>/items/<slug:code>/<slug:billing_type>/",
        views.item_map,
        name="item_map",
    ),
    path("invoices/", invoice_views.invoices, name="invoices"),
    path("invoices/create/", invoice_views.invoices_create, name="invoices_create"),
    path("invoices/approve/", invoice_views.invoices_approve, name="invoices_approve"),
    path("invoices/<int:pk>/", invoice_views.invoice_detail, name="invoice"),
    path("invoices/<int:pk>/approve/", invoice_views.invoice_approve, name="invoice_approve"),
    path(
        "invoices/<int:pk>/regenerate/", invoice_views.invoice_regenerate, name="invoice_regenerate"
    ),
    path("invoices/<int:pk>/retry/", invoice_views.invoice_retry, name="invoice_retry"),
]
