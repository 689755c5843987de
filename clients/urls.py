from django.contrib.auth import views as auth_views
from django.urls import path

from clients import account_views, views

urlpatterns = [
    path("", views.home, name="portal-home"),
    path("accounts/login/", views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/2fa/", account_views.otp_verify, name="otp-verify"),
    path(
        "accounts/password-reset/", account_views.PasswordResetView.as_view(), name="password_reset"
    ),
    path(
        "accounts/password-reset/sent/",
        auth_views.PasswordResetDoneView.as_view(template_name="clients/password_reset_done.html"),
        name="password_reset_done",
    ),
    path(
        "accounts/reset/<uidb64>/<token>/",
        account_views.PasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path(
        "accounts/reset/done/",
        auth_views.PasswordResetCompleteView.as_view(
            template_name="clients/password_reset_complete.html"
        ),
        name="password_reset_complete",
    ),
    path("invite/<str:token>/", views.invitation, name="invitation"),
    path("account/", account_views.account, name="account"),
    path("account/2fa/setup/", account_views.otp_setup, name="otp-setup"),
    path("account/2fa/backup-codes/", account_views.backup_codes, name="otp-backup-codes"),
    path("account/2fa/disable/", account_views.otp_disable, name="otp-disable"),
    path("account/password/", account_views.PasswordChangeView.as_view(), name="password-change"),
    path("account/email/", account_views.email_change_request, name="email-change"),
    path(
        "account/email/confirm/<str:token>/",
        account_views.email_change_confirm,
        name="email-change-confirm",
    ),
    path("account/logout-everywhere/", account_views.logout_everywhere, name="logout-everywhere"),
]
