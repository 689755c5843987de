"""
Settings for invoiceportal: one module for the embedded run and for production.

Everything that differs between installations is read from ``INVOICEPORTAL_*`` environment
variables (plus ``DATABASE_URL``); docs/configuration.md holds the table. The embedded run
differs from production only in its defaults: SQLite and files under a data directory, a
generated secret key kept in a 0600 file there, ``localhost`` as the allowed host.

Production (``INVOICEPORTAL_ENVIRONMENT=production``) refuses to start without a real secret
key and allowed hosts, rather than quietly inventing them.

https://docs.djangoproject.com/en/6.1/ref/settings/
https://docs.djangoproject.com/en/6.1/howto/deployment/checklist/
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP

from core.env import env_bool, env_int, env_list, env_str
from core.secret import load_or_create_secret_key

BASE_DIR = Path(__file__).resolve().parent.parent

ENVIRONMENT = env_str("INVOICEPORTAL_ENVIRONMENT", "embedded")
if ENVIRONMENT not in {"embedded", "production"}:
    raise ImproperlyConfigured(
        f"INVOICEPORTAL_ENVIRONMENT must be 'embedded' or 'production', not {ENVIRONMENT!r}."
    )
PRODUCTION = ENVIRONMENT == "production"

# ------------------------------------------------------------------------------
# Data directory: database (SQLite), private invoice files, secret key.
# Nothing in it is ever served by a web server; STATIC_ROOT lives elsewhere.
# ------------------------------------------------------------------------------
DATA_DIR = Path(env_str("INVOICEPORTAL_DATA_DIR", str(BASE_DIR / "data"))).resolve()
PRIVATE_FILES_DIR = DATA_DIR / "private" / "invoices"

# ------------------------------------------------------------------------------
# Secret key: https://docs.djangoproject.com/en/6.1/ref/settings/#secret-key
# ------------------------------------------------------------------------------
_secret_from_env = env_str("INVOICEPORTAL_SECRET_KEY", "")
_secret_file = env_str("INVOICEPORTAL_SECRET_KEY_FILE", "")
if _secret_from_env:
    SECRET_KEY = _secret_from_env
elif _secret_file:
    SECRET_KEY = Path(_secret_file).read_text(encoding="utf-8").strip()
elif PRODUCTION:
    raise ImproperlyConfigured(
        "Production needs a secret key: set INVOICEPORTAL_SECRET_KEY or "
        "INVOICEPORTAL_SECRET_KEY_FILE (see docs/configuration.md)."
    )
else:
    SECRET_KEY = load_or_create_secret_key(DATA_DIR / "secret_key")
# Old keys keep existing sessions valid during a rotation (docs/operations.md).
SECRET_KEY_FALLBACKS = env_list("INVOICEPORTAL_SECRET_KEY_FALLBACKS", [])

DEBUG = env_bool("INVOICEPORTAL_DEBUG", False)
if DEBUG and PRODUCTION:
    raise ImproperlyConfigured("INVOICEPORTAL_DEBUG cannot be on in production.")

ALLOWED_HOSTS = env_list(
    "INVOICEPORTAL_ALLOWED_HOSTS", [] if PRODUCTION else ["localhost", "127.0.0.1", "[::1]"]
)
if PRODUCTION and not ALLOWED_HOSTS:
    raise ImproperlyConfigured(
        "Production needs INVOICEPORTAL_ALLOWED_HOSTS (comma-separated host names)."
    )

# Absolute base URL printed by management commands (invitation and invoice links).
BASE_URL = env_str("INVOICEPORTAL_BASE_URL", "https://localhost:8443").rstrip("/")
if not BASE_URL.startswith("https://"):
    raise ImproperlyConfigured("INVOICEPORTAL_BASE_URL must start with https://.")

# ------------------------------------------------------------------------------
# Applications
# ------------------------------------------------------------------------------
INSTALLED_APPS = [
    # The admin, with a site that demands a verified second factor (admin_site.py).
    "invoiceportal.admin_apps.PortalAdminConfig",
    # Before django.contrib.auth so that its createsuperuser, which refuses weak passwords
    # with no "bypass" question, replaces Django's (clients/management/commands/).
    "clients",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "axes",
    "invoiceportal",
    "core",
    "audit",
    "backups",
    "business",
    "invoices",
    "notifications",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # CSP and frame protection first, so that every response gets them: the 413 page
    # and the static files that the two middleware below answer by themselves too.
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "core.middleware.RequestBodyLimitMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "clients.middleware.SessionLifetimeMiddleware",
    "clients.middleware.TwoFactorGateMiddleware",
    # Last, as django-axes asks: it turns a lockout into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "invoiceportal.urls"
WSGI_APPLICATION = "invoiceportal.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "business.context_processors.bank_notice",
            ],
        },
    },
]

# ------------------------------------------------------------------------------
# Database: SQLite in the data directory unless DATABASE_URL says otherwise.
# https://github.com/jazzband/dj-database-url
# ------------------------------------------------------------------------------
_database_url = env_str("DATABASE_URL", "")
if _database_url:
    # Persistent connections, checked before reuse at the start of each request: after a
    # database restart, the first request of each worker reconnects instead of failing
    # on the dead connection (one "SELECT 1" per request that reuses a connection).
    DATABASES = {
        "default": dj_database_url.parse(_database_url, conn_max_age=60, conn_health_checks=True)
    }
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": DATA_DIR / "db.sqlite3",
            # Kept open between requests, as for PostgreSQL: closing a worker's last
            # connection after every request made SQLite checkpoint its WAL into the
            # database file and fsync it each time (docs/performance.md, "Download path").
            "CONN_MAX_AGE": 600,
            "OPTIONS": {
                # WAL lets gunicorn's workers read while one writes; the timeout waits
                # for a writer instead of failing with "database is locked".
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
            },
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# ------------------------------------------------------------------------------
# Authentication: contacts log in with their email address.
# ------------------------------------------------------------------------------
AUTH_USER_MODEL = "clients.User"
# django-axes first: a locked-out attempt is refused before any password hasher runs.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "clients.backends.ContactAwareBackend",
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "portal-home"
LOGOUT_REDIRECT_URL = "login"

# Argon2id first, with parameters above OWASP's (core/hashers.py); the others only
# verify old hashes, which are upgraded at the next login.
PASSWORD_HASHERS = [
    "core.hashers.PortalArgon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.ScryptPasswordHasher",
]
# Password reset links work once (Django's token changes with the password) and for 1 hour.
PASSWORD_RESET_TIMEOUT = env_int("INVOICEPORTAL_PASSWORD_RESET_TTL", 60 * 60, minimum=300)
# Reset emails per hour: per address typed (a mailbox is not flooded) and per client address
# (nobody sprays the form). Refusals are audited; the page answers the same either way.
RESET_LIMIT_PER_ADDRESS = env_int("INVOICEPORTAL_RESET_LIMIT_PER_ADDRESS", 3, minimum=1)
RESET_LIMIT_PER_IP = env_int("INVOICEPORTAL_RESET_LIMIT_PER_IP", 10, minimum=1)
# A new login address takes effect when the link sent to it is opened within this time.
EMAIL_CHANGE_TTL = env_int("INVOICEPORTAL_EMAIL_CHANGE_TTL", 24 * 60 * 60, minimum=300)
# Email-change links per account and hour: the form must not mail any address unlimited.
EMAIL_CHANGE_LIMIT_PER_ACCOUNT = env_int(
    "INVOICEPORTAL_EMAIL_CHANGE_LIMIT_PER_ACCOUNT", 3, minimum=1
)
# Wrong passwords at a re-check (account pages) per account within 15 minutes before the
# session ends and the failure counts for the login lockout.
REAUTH_FAILURE_LIMIT = 5
# Mail queued by a request that must answer alike whatever it queued (the reset form) is
# sent by a background thread, never in the response's close() (docs/security.md).
MAIL_FLUSH_IN_BACKGROUND = True
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# ------------------------------------------------------------------------------
# HTTPS everywhere. https://docs.djangoproject.com/en/6.1/ref/middleware/#http-strict-transport-security
# ------------------------------------------------------------------------------
BEHIND_PROXY = env_bool("INVOICEPORTAL_BEHIND_PROXY", False)
if BEHIND_PROXY:
    # Trusted only when asked for: without a proxy that overwrites it, any client
    # could claim to be on HTTPS or to come from any address.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env_bool("INVOICEPORTAL_SSL_REDIRECT", True)
# The health check answers on plain HTTP too (load balancers, systemd); it shows no data.
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SECURE_HSTS_SECONDS = env_int("INVOICEPORTAL_HSTS_SECONDS", 31_536_000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("INVOICEPORTAL_HSTS_INCLUDE_SUBDOMAINS", True)
SECURE_HSTS_PRELOAD = env_bool("INVOICEPORTAL_HSTS_PRELOAD", True)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

# __Host- cookies: Secure, Path=/, no Domain, so a sibling subdomain cannot plant them.
SESSION_COOKIE_NAME = "__Host-sessionid"
SESSION_COOKIE_SECURE = True
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
# Absolute lifetime from login, and idle timeout (clients/middleware.py).
SESSION_COOKIE_AGE = env_int("INVOICEPORTAL_SESSION_AGE", 12 * 60 * 60, minimum=300)
SESSION_IDLE_TIMEOUT = env_int("INVOICEPORTAL_SESSION_IDLE", 30 * 60, minimum=60)
CSRF_COOKIE_NAME = "__Host-csrftoken"
CSRF_COOKIE_SECURE = True
CSRF_COOKIE_HTTPONLY = True
CSRF_COOKIE_SAMESITE = "Strict"
CSRF_FAILURE_VIEW = "invoiceportal.views.csrf_failure"
# Flash messages live in the session (a __Host- cookie), not in a cookie of their own.
MESSAGE_STORAGE = "django.contrib.messages.storage.session.SessionStorage"

# Strict CSP: no inline script or style anywhere, nothing from other origins.
SECURE_CSP = {
    "default-src": [CSP.NONE],
    "script-src": [CSP.SELF],
    "style-src": [CSP.SELF],
    "img-src": [CSP.SELF, "data:"],
    "font-src": [CSP.SELF],
    "connect-src": [CSP.SELF],
    "form-action": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
    "base-uri": [CSP.NONE],
    "object-src": [CSP.NONE],
}

# ------------------------------------------------------------------------------
# Two-factor authentication (django-otp). Staff always need it for the admin; contacts
# when their client requires it, or everyone when INVOICEPORTAL_REQUIRE_2FA is set.
# https://django-otp-official.readthedocs.io/
# ------------------------------------------------------------------------------
REQUIRE_2FA_FOR_ALL = env_bool("INVOICEPORTAL_REQUIRE_2FA", False)
OTP_TOTP_ISSUER = env_str("INVOICEPORTAL_OTP_ISSUER", "invoiceportal")
OTP_TOTP_THROTTLE_FACTOR = 1  # 1, 2, 4, 8 ... seconds after successive wrong codes
OTP_ADMIN_HIDE_SENSITIVE_DATA = True  # staff never see another user's TOTP secret
# TOTP secrets are sealed (AES-256-GCM) with keys from this 0600 file, never stored in clear
# in the database (clients/totp_sealing.py). Rotation: manage.py rotate_otp_key.
OTP_KEY_FILE = Path(env_str("INVOICEPORTAL_OTP_KEY_FILE", str(DATA_DIR / "otp.key"))).resolve()
BACKUP_CODE_COUNT = 10

# ------------------------------------------------------------------------------
# Brute force (django-axes): state in the database, shared by every gunicorn worker.
# https://django-axes.readthedocs.io/en/latest/4_configuration.html
# ------------------------------------------------------------------------------
LOCKOUT_FAILURES = env_int("INVOICEPORTAL_LOCKOUT_FAILURES", 5, minimum=1)
LOCKOUT_ACCOUNT_FAILURES = env_int("INVOICEPORTAL_LOCKOUT_ACCOUNT_FAILURES", 20, minimum=1)
LOCKOUT_ADDRESS_FAILURES = env_int("INVOICEPORTAL_LOCKOUT_ADDRESS_FAILURES", 50, minimum=1)
AXES_COOLOFF_TIME = timedelta(
    minutes=env_int("INVOICEPORTAL_LOCKOUT_COOLOFF_MINUTES", 15, minimum=1)
)
AXES_HANDLER = "clients.lockout.TieredLockoutHandler"
AXES_FAILURE_LIMIT = LOCKOUT_FAILURES
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"], "username", "ip_address"]
AXES_USERNAME_CALLABLE = "clients.lockout.attempted_email"
AXES_CLIENT_IP_CALLABLE = "clients.lockout.client_ip"
AXES_LOCKOUT_CALLABLE = "clients.lockout.lockout_response"
# Not reset on success: with the per-address tier, a login to one's own account would
# otherwise wipe the failures against every other account from that address.
AXES_RESET_ON_SUCCESS = False
# axes' own log of successful logins would store the request path (an invitation URL holds
# a token); the portal's audit trail records logins already.
AXES_DISABLE_ACCESS_LOG = True
# axes keeps the form data of failures; ``next`` may hold a download link's token.
AXES_SENSITIVE_PARAMETERS = [
    "password",
    "password1",
    "password2",
    "old_password",
    "otp_token",
    "next",
    "csrfmiddlewaretoken",
]
AXES_VERBOSE = False

# ------------------------------------------------------------------------------
# Static files (whitenoise); STATIC_ROOT is outside the data directory.
# ------------------------------------------------------------------------------
STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env_str("INVOICEPORTAL_STATIC_ROOT", str(BASE_DIR / "staticfiles")))
STORAGES = {
    # Never served; invoices bypass it entirely (invoices/storage.py).
    "default": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": DATA_DIR / "private" / "other"},
    },
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
# No MEDIA_ROOT: nothing user-uploaded is ever served as a static file.
# whitenoise adds "Access-Control-Allow-Origin: *" by default; no other site needs to read
# the portal's static files, so it is not sent.
WHITENOISE_ALLOW_ALL_ORIGINS = False

# ------------------------------------------------------------------------------
# Invoices and links
# ------------------------------------------------------------------------------
DOWNLOAD_LINK_TTL = env_int("INVOICEPORTAL_DOWNLOAD_LINK_TTL", 300)
EMAIL_LINK_TTL_DAYS = env_int("INVOICEPORTAL_EMAIL_LINK_TTL_DAYS", 14)
INVITATION_TTL_DAYS = env_int("INVOICEPORTAL_INVITATION_TTL_DAYS", 7)
MAX_UPLOAD_BYTES = env_int("INVOICEPORTAL_MAX_UPLOAD_BYTES", 20 * 1024 * 1024)
# How the bytes of a download leave: "django" streams them from gunicorn; "nginx" answers
# with X-Accel-Redirect to the proxy's internal location (Caddy reads the same header), so
# authorization stays here and the proxy sends the file with sendfile.
SENDFILE = env_str("INVOICEPORTAL_SENDFILE", "django")
if SENDFILE not in {"django", "nginx"}:
    raise ImproperlyConfigured("INVOICEPORTAL_SENDFILE must be 'django' or 'nginx'.")
SENDFILE_PREFIX = env_str("INVOICEPORTAL_SENDFILE_PREFIX", "/_protected/invoices/")
# Django refuses bodies without files above this; file parts are capped by MAX_UPLOAD_BYTES.
DATA_UPLOAD_MAX_MEMORY_SIZE = 2_621_440
FILE_UPLOAD_PERMISSIONS = 0o600
FILE_UPLOAD_DIRECTORY_PERMISSIONS = 0o700

# ------------------------------------------------------------------------------
# Email: https://docs.djangoproject.com/en/6.1/topics/email/
# The embedded run keeps messages as files in DATA_DIR/outbox (nothing leaves the
# machine); production sends through SMTP.
# ------------------------------------------------------------------------------
# The embedded run prints every message on the console and keeps a copy in
# DATA_DIR/outbox (Django's plain console backend fails check --deploy, mail.E001);
# production sends through SMTP, configured by INVOICEPORTAL_EMAIL_*.
EMAIL_OUTBOX_DIR = DATA_DIR / "outbox"
_SMTP = "django.core.mail.backends.smtp.EmailBackend"
_email_backend = env_str(
    "INVOICEPORTAL_EMAIL_BACKEND", _SMTP if PRODUCTION else "core.mail.OutboxEmailBackend"
)
MAILERS = {"default": {"BACKEND": _email_backend}}
if _email_backend == _SMTP:
    MAILERS["default"]["OPTIONS"] = {
        "host": env_str("INVOICEPORTAL_EMAIL_HOST", "localhost"),
        "port": env_int("INVOICEPORTAL_EMAIL_PORT", 587),
        "username": env_str("INVOICEPORTAL_EMAIL_USER", ""),
        "password": env_str("INVOICEPORTAL_EMAIL_PASSWORD", ""),
        "use_tls": env_bool("INVOICEPORTAL_EMAIL_USE_TLS", True),
        "timeout": 20,
    }
# Lifetime of the per-invoice link in a "document waiting" or reminder email (it still
# needs the client's login; revocable in the admin), and the reminder interval.
NOTICE_LINK_TTL_DAYS = env_int("INVOICEPORTAL_NOTICE_LINK_TTL", 14, minimum=1)
REMINDER_INTERVAL_DAYS = env_int("INVOICEPORTAL_REMINDER_INTERVAL_DAYS", 7, minimum=1)
DEFAULT_FROM_EMAIL = env_str("INVOICEPORTAL_EMAIL_FROM", "invoices@localhost")

# ------------------------------------------------------------------------------
# Internationalisation
# ------------------------------------------------------------------------------
LANGUAGE_CODE = "en"
TIME_ZONE = env_str("INVOICEPORTAL_TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

# ------------------------------------------------------------------------------
# Logging: to stderr (gunicorn / systemd journal). Never a token: a filter redacts the
# secret part of /d/<token>/ and /invite/<token>/ from every record, and gunicorn's
# access log goes through core.gunicorn_logging.RedactingLogger.
# ------------------------------------------------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "filters": {"redact_tokens": {"()": "core.logfilters.RedactTokens"}},
    "handlers": {
        "stderr": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["redact_tokens"],
        }
    },
    "root": {"handlers": ["stderr"], "level": env_str("INVOICEPORTAL_LOG_LEVEL", "INFO")},
    "loggers": {
        # axes logs every success at INFO; failures and lockouts (WARNING) are what matter.
        "axes": {"level": "WARNING"},
        # pikepdf announces its C++ logger bridge at INFO on import; its warnings still show.
        "pikepdf": {"level": "WARNING"},
        # Replace Django's own console handler (used with DEBUG), which has no redaction.
        "django": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
    },
}
