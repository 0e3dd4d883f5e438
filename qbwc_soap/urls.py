app_name = "qbwc_soap"
urlpatterns = []
