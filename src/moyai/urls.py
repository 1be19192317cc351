from django.contrib.auth import views as auth_views
from django.urls import include, path

from moyai.api import api
from moyai.certificates import views as certificate_views
from moyai.ui import views as ui_views

urlpatterns = [
    path("", ui_views.start, name="index"),
    path("login/", ui_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(next_page="/login/"), name="logout"),
    path("api/v1/", api.urls),
    path("verify/", certificate_views.verify_page, name="certificate-verify"),
    path("counter/", include("moyai.ui.urls")),
]
