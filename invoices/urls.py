from django.urls import path

from invoices import views

urlpatterns = [
    path("invoices/", views.invoice_list, name="invoice-list"),
    path("invoices/<uuid:public_id>/", views.invoice_detail, name="invoice-detail"),
    path(
        "invoices/<uuid:public_id>/download/",
        views.invoice_download_link,
        name="invoice-download-link",
    ),
    path("d/<str:token>/", views.download, name="download"),
    path("v/<str:token>/", views.invoice_link, name="invoice-link"),
]
