from django.urls import path

from moyai.api import api

urlpatterns = [
    path("api/v1/", api.urls),
]
