from django.contrib import admin
from django.urls import include, path

from invoiceportal.views import favicon, healthz

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("favicon.ico", favicon, name="favicon"),
    path("admin/", admin.site.urls),
    path("", include("clients.urls")),
    path("", include("invoices.urls")),
]

handler400 = "invoiceportal.views.bad_request"
handler403 = "invoiceportal.views.permission_denied"
handler404 = "invoiceportal.views.page_not_found"
handler500 = "invoiceportal.views.server_error"
