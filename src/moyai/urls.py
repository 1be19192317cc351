from django.contrib.auth import views as auth_views
from django.urls import path

from moyai.api import api
from moyai.platform.http import views

urlpatterns = [
    path("", views.index, name="index"),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(next_page="/login/"), name="logout"),
    path("api/v1/", api.urls),
]
