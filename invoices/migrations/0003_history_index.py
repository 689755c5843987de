# The history page's index (invoices/selectors.py: invoice_history_page), replacing the
# index of 0001 on (client, -issue_date, -id). The two AlterFields record the \Z validators
# that the models already use (no SQL).

import django.core.validators
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("clients", "0001_initial"),
        ("invoices", "0002_integrity_alert"),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name="invoice",
            name="invoices_in_client__521674_idx",
        ),
        migrations.AlterField(
            model_name="invoice",
            name="currency",
            field=models.CharField(
                max_length=3,
                validators=[
                    django.core.validators.RegexValidator(
                        "^[A-Z]{3}\\Z", "Use a three-letter ISO 4217 code, e.g. EUR."
                    )
                ],
            ),
        ),
        migrations.AlterField(
            model_name="invoice",
            name="number",
            field=models.CharField(
                blank=True,
                max_length=64,
                null=True,
                unique=True,
                validators=[
                    django.core.validators.RegexValidator(
                        "^[A-Za-z0-9][A-Za-z0-9._/-]{0,63}\\Z",
                        "Use 1 to 64 letters, digits, '.', '_', '/' or '-', starting with a "
                        "letter or digit.",
                    )
                ],
            ),
        ),
        migrations.AddIndex(
            model_name="invoice",
            index=models.Index(
                fields=["client", "-issue_date", "-id", "status"], name="invoice_history_idx"
            ),
        ),
    ]
