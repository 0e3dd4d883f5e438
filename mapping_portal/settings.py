"""Settings, read from the environment (see .env.example for every variable)."""

import re
from datetime import timedelta
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from mapping_portal.lib.env import (
    database_from_url,
    env_bool,
    env_int,
    env_list,
    env_site_url,
    env_str,
    env_time_zone,
    env_url_list,
    redis_url,
)

BASE_DIR = Path(__file__).resolve().parent.parent

DEBUG = env_bool("DEBUG", False)
SECRET_KEY = env_str("SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY must be set (a long random string) unless DEBUG=true."
        )
    SECRET_KEY = "insecure-development-key-only-for-debug"  # noqa: S105

# Reverse proxies in front of the portal that append the client's address to X-Forwarded-For
# (0: clients connect directly; 1: one TLS proxy such as nginx or Caddy).
TRUSTED_PROXIES = env_int("TRUSTED_PROXIES", 0, maximum=5)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_url_list("CSRF_TRUSTED_ORIGINS", [])
SITE_URL = env_site_url("SITE_URL", "http://127.0.0.1:8000")
TIME_ZONE = env_time_zone("TIME_ZONE", "UTC")
USE_TZ = True
LANGUAGE_CODE = "en-us"
USE_I18N = False

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "axes",
    "django_htmx",
    "template_partials",
    "django_celery_beat",
    "organizations",
    "connectors",
    "qbwc_soap",
    "kaseya_modules",
    "billing",
]

MIDDLEWARE = [
    # First, so an oversized body is refused before any other middleware reads it.
    "mapping_portal.lib.body_limit.BodyLimitMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "mapping_portal.lib.content_security_policy.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "mapping_portal.lib.middleware.RefuseControlCharacters",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Last: turns a log-in refused by the throttle into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "mapping_portal.urls"
WSGI_APPLICATION = "mapping_portal.wsgi.application"

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
                "organizations.context_processors.organization_term",
                "mapping_portal.lib.navigation.navigation",
            ],
            "builtins": ["mapping_portal.templatetags.portal"],
        },
    },
]

DATABASES = {"default": database_from_url("DATABASE_URL", BASE_DIR / "var" / "portal.sqlite3")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = redis_url("REDIS_URL")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "mapping_portal",
        }
    }
    CELERY_BROKER_URL = REDIS_URL
    CELERY_RESULT_BACKEND = REDIS_URL
    CELERY_TASK_ALWAYS_EAGER = False
else:
    # Demo and laptop runs have no broker: tasks run in process, the cache is per process.
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    CELERY_BROKER_URL = "memory://"
    CELERY_RESULT_BACKEND = None
    CELERY_TASK_ALWAYS_EAGER = True
    CELERY_TASK_EAGER_PROPAGATES = True
# Limits on one module sync (kaseya_modules/sources). The per-read socket timeout alone never ends
# a server that trickles bytes, nor a feed whose cursors never end. The sync deadline stays under
# the module's one-hour sync lease, so a run ends before another may take the module over.
MODULE_SYNC_REQUEST_DEADLINE_SECONDS = env_int(
    "MODULE_SYNC_REQUEST_DEADLINE_SECONDS", 120, minimum=1, maximum=3000
)
MODULE_SYNC_DEADLINE_SECONDS = env_int(
    "MODULE_SYNC_DEADLINE_SECONDS", 1800, minimum=1, maximum=3000
)
MODULE_SYNC_MAX_PAGES = env_int("MODULE_SYNC_MAX_PAGES", 10_000, minimum=1)
# The organization sync from Autotask PSA (organizations/autotask.py). Autotask allows 10,000
# requests per rolling hour per database, shared by every integration; the portal's syncs use at
# most this many in any hour (a 10,000-company sync needs about 22) and stop before passing it.
AUTOTASK_REQUESTS_PER_HOUR = env_int("AUTOTASK_REQUESTS_PER_HOUR", 1000, minimum=3, maximum=10_000)
AUTOTASK_SYNC_MAX_PAGES = env_int("AUTOTASK_SYNC_MAX_PAGES", 1000, minimum=1)
AUTOTASK_REQUEST_DEADLINE_SECONDS = env_int(
    "AUTOTASK_REQUEST_DEADLINE_SECONDS", 120, minimum=1, maximum=3000
)
# Invoice numbers (QuickBooks RefNumber, at most 11 characters): this prefix and a zero-padded
# number, given at approval ("MP000000001").
INVOICE_REF_PREFIX = env_str("INVOICE_REF_PREFIX", "MP")
if not re.fullmatch(r"[A-Za-z0-9-]{0,6}", INVOICE_REF_PREFIX):
    raise ImproperlyConfigured("INVOICE_REF_PREFIX: up to 6 letters, digits or hyphens.")

CELERY_TIMEZONE = TIME_ZONE
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
# Log-in throttling (mapping_portal/lib/login_throttle.py, django-axes counting in the cache).
LOGIN_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5, minimum=1)
LOGIN_ADDRESS_FAILURE_LIMIT = env_int("LOGIN_ADDRESS_FAILURE_LIMIT", 30, minimum=1)
LOGIN_LOCKOUT_MINUTES = env_int("LOGIN_LOCKOUT_MINUTES", 15, minimum=1)
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",  # first: refuses a locked-out log-in
    "django.contrib.auth.backends.ModelBackend",
]
AXES_HANDLER = "mapping_portal.lib.login_throttle.LoginThrottleHandler"
AXES_FAILURE_LIMIT = LOGIN_FAILURE_LIMIT
AXES_LOCKOUT_PARAMETERS = [["ip_address", "username"]]
AXES_COOLOFF_TIME = timedelta(minutes=LOGIN_LOCKOUT_MINUTES)
AXES_RESET_ON_SUCCESS = True
AXES_CLIENT_IP_CALLABLE = "mapping_portal.lib.client_address.client_address"
AXES_LOCKOUT_CALLABLE = "mapping_portal.lib.login_throttle.locked_out"
AXES_ENABLE_ADMIN = False  # the cache handler keeps no rows to show
AXES_VERBOSE = False
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "var" / "staticfiles"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True

SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False  # htmx reads the token from the page, not the cookie
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
# Everything from the portal itself; nothing inline, no eval (mapping_portal/lib/
# content_security_policy.py). data: images are Pico's CSS icons and the empty favicon.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
if SITE_URL.startswith("https://"):
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    # Browsers that reached the portal over https refuse plain http to it for this long.
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 365 * 24 * 3600)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
    SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)

# Request bodies are capped per route before they are read (mapping_portal/lib/body_limit.py):
# log-in forms 64 KiB, the CSV import its file cap plus 64 KiB, /qbwc/ QBWC_MAX_BODY_BYTES (QBWC
# posts at most 10 MB), every other form REQUEST_MAX_BODY_BYTES.
REQUEST_MAX_BODY_BYTES = env_int("REQUEST_MAX_BODY_BYTES", 1024 * 1024, minimum=64 * 1024)
QBWC_MAX_BODY_BYTES = 10 * 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = QBWC_MAX_BODY_BYTES
# Failed QBWC logins allowed per client address, and per (address, user name), inside the window
# before that address (or that name from it) is answered "nvu" without checking the password.
QBWC_AUTH_FAILURES_PER_ADDRESS = env_int("QBWC_AUTH_FAILURES_PER_ADDRESS", 20, minimum=1)
QBWC_AUTH_FAILURES_PER_USER_ADDRESS = env_int("QBWC_AUTH_FAILURES_PER_USER_ADDRESS", 5, minimum=1)
QBWC_AUTH_FAILURE_WINDOW_SECONDS = env_int(
    "QBWC_AUTH_FAILURE_WINDOW_SECONDS", 15 * 60, minimum=1, maximum=7 * 24 * 3600
)
# The key connector passwords are hashed under (HMAC-SHA-256). Empty: derived from SECRET_KEY
# (rotate with SECRET_KEY_FALLBACKS). Set it to keep connector passwords across a SECRET_KEY change.
QBWC_PASSWORD_KEY = env_str("QBWC_PASSWORD_KEY", "")
# How old a connector's list of QuickBooks items may grow before a QBWC conversation reads it
# again (an admin can ask for a fresh read at any time).
QBWC_ITEM_REFRESH_HOURS = env_int("QBWC_ITEM_REFRESH_HOURS", 24, minimum=1, maximum=24 * 365)

# Email (the optional note after a sync). Unset EMAIL_HOST: messages are printed to the console.
EMAIL_HOST = env_str("EMAIL_HOST", "")
if EMAIL_HOST:
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    EMAIL_PORT = env_int("EMAIL_PORT", 587, minimum=1, maximum=65535)
    EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
    EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
    EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", True)
    EMAIL_TIMEOUT = 20
else:
    EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "Mapping Portal <mapping-portal@localhost>")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    # httpx logs every request's full URL at INFO: one line per page of a sync, query included.
    # The module sources log retries and failures themselves, without secrets.
    "loggers": {"spyne": {"level": "WARNING"}, "httpx": {"level": "WARNING"}},
}
