app_name = "kaseya_modules"
urlpatterns = []
