# The yearly totals that the services keep (invoices/services/totals.py), counted once
# here for the invoices issued before this migration.

from decimal import Decimal

import django.db.models.deletion
from django.db import migrations, models


def count_existing_invoices(apps, schema_editor):
    """The yearly totals of the invoices issued before this migration (the same rule as
    invoices.services.totals.year_totals_rebuild, on the historical models)."""
    Invoice = apps.get_model("invoices", "Invoice")
    InvoiceYearTotal = apps.get_model("invoices", "InvoiceYearTotal")
    sums = {}
    counted = Invoice.objects.filter(status__in=("issued", "paid"), kind="invoice").values_list(
        "client_id", "issue_date", "currency", "total"
    )
    for client_id, issue_date, currency, total in counted.iterator(chunk_size=5000):
        entry = sums.setdefault((client_id, issue_date.year, currency), [Decimal("0"), 0])
        entry[0] += total
        entry[1] += 1
    InvoiceYearTotal.objects.bulk_create(
        [
            InvoiceYearTotal(client_id=c, year=y, currency=cur, total=t, count=n)
            for (c, y, cur), (t, n) in sums.items()
        ],
        batch_size=1000,
    )


class Migration(migrations.Migration):
    dependencies = [
        ("clients", "0001_initial"),
        ("invoices", "0003_history_index"),
    ]

    operations = [
        migrations.CreateModel(
            name="InvoiceYearTotal",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("year", models.PositiveIntegerField()),
                ("currency", models.CharField(max_length=3)),
                (
                    "total",
                    models.DecimalField(decimal_places=4, default=Decimal("0"), max_digits=18),
                ),
                ("count", models.IntegerField(default=0)),
                (
                    "client",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="invoice_year_totals",
                        to="clients.client",
                    ),
                ),
            ],
            options={
                "constraints": [
                    models.UniqueConstraint(
                        fields=("client", "year", "currency"),
                        name="one_total_per_client_year_currency",
                    )
                ],
            },
        ),
        migrations.RunPython(count_existing_invoices, migrations.RunPython.noop),
    ]
