from django.contrib.auth import views as auth_views
from django.urls import path

from clients import views

urlpatterns = [
    path("", views.home, name="portal-home"),
    path("accounts/login/", views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("invite/<str:token>/", views.invitation, name="invitation"),
]
