from django.urls import path

from . import views

app_name = "qbwc_soap"
urlpatterns = [
    path("", views.soap, name="soap"),
    path("connectors/<int:pk>/log/", views.transfer_log, name="transfer_log"),
    path("connectors/<int:pk>/log/organizations/", views.transfer_states, name="transfer_states"),
    path("connectors/<int:pk>/log/invoices/", views.transfer_invoices, name="transfer_invoices"),
]
