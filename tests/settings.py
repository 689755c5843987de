"""Test settings: the real settings with a throwaway data directory and a fast hasher.

One test (tests/config/test_settings.py) asserts that the real settings put Argon2 first.
"""

import os
import tempfile

_TMP = tempfile.mkdtemp(prefix="invoiceportal-test-")
os.environ.setdefault("INVOICEPORTAL_DATA_DIR", os.path.join(_TMP, "data"))
os.environ.setdefault("INVOICEPORTAL_STATIC_ROOT", os.path.join(_TMP, "static"))
os.makedirs(os.environ["INVOICEPORTAL_STATIC_ROOT"], exist_ok=True)

from invoiceportal.settings import *  # noqa: E402, F403

# Argon2 at OWASP parameters costs tens of milliseconds per hash; tests hash hundreds.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES = {
    **STORAGES,  # noqa: F405
    # The manifest needs collectstatic; tests render templates without it.
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405
    # A file, as in production: an in-memory database in shared-cache mode answers
    # concurrent writers with "table is locked" instead of waiting (tests/reliability).
    DATABASES["default"]["TEST"] = {"NAME": os.path.join(_TMP, "test.sqlite3")}  # noqa: F405
else:
    # A name of this run's own, so that two runs on one server (a developer's and CI's)
    # never drop each other's test database.
    DATABASES["default"]["TEST"] = {"NAME": f"test_invoiceportal_{os.getpid()}"}  # noqa: F405

# Tests send the queue in the request's own thread (one database connection, the test's
# transaction); tests/clients/test_password_reset.py checks the background hand-off.
MAIL_FLUSH_IN_BACKGROUND = False
