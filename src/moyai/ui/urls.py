"""Counter screens under ``/counter/``: ``/counter/<団体コード>/…``."""

from django.urls import path

from . import views

app_name = "ui"

urlpatterns = [
    path("", views.tenants, name="tenants"),
    path("<str:tenant>/", views.search, name="search"),
    path("<str:tenant>/move-in/", views.move_in, name="move_in"),
    path("<str:tenant>/residents/<str:atena_no>/", views.resident, name="resident"),
    path("<str:tenant>/residents/<str:atena_no>/move-within/", views.move_within, name="move_within"),
    path("<str:tenant>/residents/<str:atena_no>/move-out/", views.move_out, name="move_out"),
    path("<str:tenant>/residents/<str:atena_no>/death/", views.death, name="death"),
    path("<str:tenant>/residents/<str:atena_no>/birth/", views.birth, name="birth"),
    path("<str:tenant>/residents/<str:atena_no>/household/", views.household_change, name="household_change"),
    path("<str:tenant>/residents/<str:atena_no>/certificate/", views.certificate, name="certificate"),
    path("<str:tenant>/changes/<int:change_id>/", views.change, name="change"),
]
