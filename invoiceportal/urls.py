from django.contrib import admin
from django.urls import include, path

admin.site.site_header = "invoiceportal"
admin.site.site_title = "invoiceportal admin"
admin.site.index_title = "Consultant's desk"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("", include("clients.urls")),
    path("", include("invoices.urls")),
]

handler400 = "invoiceportal.views.bad_request"
handler403 = "invoiceportal.views.permission_denied"
handler404 = "invoiceportal.views.page_not_found"
handler500 = "invoiceportal.views.server_error"
