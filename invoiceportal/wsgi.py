"""WSGI entry point for gunicorn: ``gunicorn invoiceportal.wsgi``."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "invoiceportal.settings")

application = get_wsgi_application()

# manage.py runs the system checks before every command; gunicorn does not. Refuse to serve
# with a configuration that a check calls an error (e.g. plain HTTP without a proxy).
from invoiceportal.checks import refuse_serious_problems  # noqa: E402

refuse_serious_problems()
