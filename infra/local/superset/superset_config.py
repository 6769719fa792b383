# Superset configuration for cdc-olap (Apache Superset 6.1.0).
# Every deployment-specific value comes from the environment, set by
# pipeline/stack/services/superset.py for the local stack or by your deployment;
# nothing secret is stored here. Superset finds it through SUPERSET_CONFIG_PATH.
import os
from datetime import timedelta

from celery.schedules import crontab
from superset.tasks.types import ExecutorType, FixedExecutor


def _env(name, default=None, required=False):
    value = os.environ.get(name, default)
    if required and not value:
        raise RuntimeError(f"superset_config: environment variable {name} is required")
    return value


def _env_bool(name, default):
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    return raw.strip().lower() in ("1", "true", "yes", "on")


def _env_int(name, default):
    raw = os.environ.get(name)
    return int(raw) if raw not in (None, "") else default


def _env_list(name, default=()):
    raw = os.environ.get(name)
    if not raw:
        return list(default)
    return [item.strip() for item in raw.split(",") if item.strip()]


# --- core --------------------------------------------------------------------
# Generate once per install (e.g. `openssl rand -base64 42`) and keep it stable:
# it encrypts stored database passwords. Refuse to start without it.
SECRET_KEY = _env("SUPERSET_SECRET_KEY", required=True)

# Metadata database (PostgreSQL via psycopg2-binary).
SQLALCHEMY_DATABASE_URI = _env("SUPERSET_DATABASE_URI", required=True)
# Small pool: 1-2 gunicorn workers + 1 celery worker do not need more.
SQLALCHEMY_ENGINE_OPTIONS = {
    "pool_size": _env_int("SUPERSET_DB_POOL_SIZE", 3),
    "max_overflow": _env_int("SUPERSET_DB_MAX_OVERFLOW", 2),
    "pool_pre_ping": True,
    "pool_recycle": 1800,
}

# Web server request timeout (seconds). Keep the gunicorn --timeout >= this.
SUPERSET_WEBSERVER_TIMEOUT = _env_int("SUPERSET_WEBSERVER_TIMEOUT", 120)
SUPERSET_WEBSERVER_PORT = _env_int("SUPERSET_WEBSERVER_PORT", 8088)

# Limits that keep worker memory modest.
ROW_LIMIT = _env_int("SUPERSET_ROW_LIMIT", 10000)
SQL_MAX_ROW = _env_int("SUPERSET_SQL_MAX_ROW", 50000)
SAMPLES_ROW_LIMIT = _env_int("SUPERSET_SAMPLES_ROW_LIMIT", 1000)

LOG_LEVEL = _env("SUPERSET_LOG_LEVEL", "INFO")
ENABLE_PROXY_FIX = _env_bool("SUPERSET_ENABLE_PROXY_FIX", False)

# --- feature flags -------------------------------------------------------------
FEATURE_FLAGS = {
    "ALERT_REPORTS": True,
    "THUMBNAILS": False,
    "PLAYWRIGHT_REPORTS_AND_THUMBNAILS": False,
    "ENABLE_TEMPLATE_PROCESSING": _env_bool("SUPERSET_ENABLE_TEMPLATE_PROCESSING", False),
}

# --- redis: celery broker/results, caches, rate limiting -----------------------
# SUPERSET_REDIS_URL has no database number, e.g. redis://127.0.0.1:26379
REDIS_URL = _env("SUPERSET_REDIS_URL", "redis://127.0.0.1:6379").rstrip("/")
REDIS_DB_BROKER = _env_int("SUPERSET_REDIS_DB_BROKER", 0)
REDIS_DB_RESULTS = _env_int("SUPERSET_REDIS_DB_RESULTS", 1)
REDIS_DB_CACHE = _env_int("SUPERSET_REDIS_DB_CACHE", 2)
REDIS_DB_RATELIMIT = _env_int("SUPERSET_REDIS_DB_RATELIMIT", 3)

CACHE_DEFAULT_TIMEOUT = _env_int("SUPERSET_CACHE_DEFAULT_TIMEOUT", 3600)


def _redis_cache(prefix, timeout=None):
    return {
        "CACHE_TYPE": "RedisCache",
        "CACHE_DEFAULT_TIMEOUT": timeout or CACHE_DEFAULT_TIMEOUT,
        "CACHE_KEY_PREFIX": prefix,
        "CACHE_REDIS_URL": f"{REDIS_URL}/{REDIS_DB_CACHE}",
    }


CACHE_CONFIG = _redis_cache("superset_cache_")
DATA_CACHE_CONFIG = _redis_cache("superset_data_")
FILTER_STATE_CACHE_CONFIG = _redis_cache(
    "superset_filter_", int(timedelta(days=90).total_seconds())
)
EXPLORE_FORM_DATA_CACHE_CONFIG = _redis_cache(
    "superset_explore_", int(timedelta(days=7).total_seconds())
)

# Flask-Limiter storage (otherwise per-process memory:// with a warning).
RATELIMIT_STORAGE_URI = f"{REDIS_URL}/{REDIS_DB_RATELIMIT}"


class CeleryConfig:
    broker_url = f"{REDIS_URL}/{REDIS_DB_BROKER}"
    result_backend = f"{REDIS_URL}/{REDIS_DB_RESULTS}"
    imports = (
        "superset.sql_lab",
        "superset.tasks.scheduler",
        "superset.tasks.thumbnails",
        "superset.tasks.cache",
        "superset.tasks.slack",
    )
    worker_prefetch_multiplier = 1
    task_acks_late = False
    broker_connection_retry_on_startup = True
    result_expires = int(timedelta(days=1).total_seconds())
    # Recycle the worker child after N tasks to cap memory growth.
    worker_max_tasks_per_child = _env_int("SUPERSET_CELERY_MAX_TASKS_PER_CHILD", 50)
    task_annotations = {
        "sql_lab.get_sql_results": {"rate_limit": "100/s"},
    }
    beat_schedule = {
        "reports.scheduler": {
            "task": "reports.scheduler",
            "schedule": crontab(minute="*", hour="*"),
            "options": {"expires": 60},
        },
        "reports.prune_log": {
            "task": "reports.prune_log",
            "schedule": crontab(minute=0, hour=0),
        },
    }


CELERY_CONFIG = CeleryConfig

# --- alerts & reports: email -----------------------------------------------------
# Plain SMTP sink: no auth, no TLS. Superset only calls login() when both
# SMTP_USER and SMTP_PASSWORD are truthy, and calls starttls() when
# SMTP_STARTTLS is true (the stock default is True, and user/password default
# to "superset"), so all of them must be overridden here.
SMTP_HOST = _env("SUPERSET_SMTP_HOST", "127.0.0.1")
SMTP_PORT = _env_int("SUPERSET_SMTP_PORT", 25)
SMTP_STARTTLS = _env_bool("SUPERSET_SMTP_STARTTLS", False)
SMTP_SSL = _env_bool("SUPERSET_SMTP_SSL", False)
SMTP_SSL_SERVER_AUTH = False
SMTP_USER = _env("SUPERSET_SMTP_USER") or None
SMTP_PASSWORD = _env("SUPERSET_SMTP_PASSWORD") or None
SMTP_MAIL_FROM = _env("SUPERSET_SMTP_MAIL_FROM", "superset@localhost")
EMAIL_REPORTS_SUBJECT_PREFIX = _env("SUPERSET_EMAIL_SUBJECT_PREFIX", "[Report] ")
# True = log the e-mail instead of sending it.
ALERT_REPORTS_NOTIFICATION_DRY_RUN = _env_bool("SUPERSET_ALERT_REPORTS_DRY_RUN", False)
ALERT_REPORTS_DEFAULT_WORKING_TIMEOUT = _env_int("SUPERSET_ALERT_REPORTS_WORKING_TIMEOUT", 600)
# Run as an owner of the report, else as a fixed user (must exist).
ALERT_REPORTS_EXECUTORS = [
    ExecutorType.OWNER,
    FixedExecutor(_env("SUPERSET_ALERT_REPORTS_EXECUTOR_USER", "admin")),
]

# --- alerts & reports: webdriver ---------------------------------------------------
# Only PNG/PDF reports (screenshots) use a browser; CSV and text reports do not.
# Screenshots need, on the *celery worker* host, either chromium + chromedriver
# (Debian: chromium chromium-driver, WEBDRIVER_TYPE=chrome) or firefox-esr +
# geckodriver (WEBDRIVER_TYPE=firefox), on PATH. Selenium Manager cannot fetch
# drivers without internet, so the driver must come from the OS packages.
# WEBDRIVER_BASEURL is how the worker reaches the web server;
# WEBDRIVER_BASEURL_USER_FRIENDLY is the link put into e-mails.
WEBDRIVER_TYPE = _env("SUPERSET_WEBDRIVER_TYPE", "chrome")
WEBDRIVER_BASEURL = _env("SUPERSET_WEBDRIVER_BASEURL", "http://127.0.0.1:8088/")
WEBDRIVER_BASEURL_USER_FRIENDLY = _env(
    "SUPERSET_WEBDRIVER_BASEURL_USER_FRIENDLY", WEBDRIVER_BASEURL
)
WEBDRIVER_OPTION_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-extensions",
    "--window-size=1600,1200",
]
WEBDRIVER_CONFIGURATION = {
    "options": {"capabilities": {}, "preferences": {}},
    "service": {"log_output": "/dev/null", "service_args": [], "port": 0, "env": {}},
}
# Optional explicit driver path (e.g. /usr/bin/chromedriver) so Selenium Manager
# does not have to look for one.
_driver_path = _env("SUPERSET_WEBDRIVER_DRIVER_PATH")
if _driver_path:
    WEBDRIVER_CONFIGURATION["service"]["executable_path"] = _driver_path
SCREENSHOT_LOAD_WAIT = _env_int("SUPERSET_SCREENSHOT_LOAD_WAIT", 60)
EMAIL_PAGE_RENDER_WAIT = _env_int("SUPERSET_EMAIL_PAGE_RENDER_WAIT", 30)

# --- CSRF / REST API -------------------------------------------------------------------
# CSRF stays on for the browser UI. REST clients authenticating with a JWT
# (Authorization: Bearer ...) must either send X-CSRFToken from
# GET /api/v1/security/csrf_token/ together with the session cookie that call
# sets, or the endpoints they POST/PUT/DELETE to must be listed in
# SUPERSET_CSRF_EXEMPT (comma-separated Flask endpoint names, appended to the
# stock list).
WTF_CSRF_ENABLED = _env_bool("SUPERSET_WTF_CSRF_ENABLED", True)
WTF_CSRF_TIME_LIMIT = _env_int("SUPERSET_WTF_CSRF_TIME_LIMIT", 3600 * 24 * 7)
WTF_CSRF_EXEMPT_LIST = [
    "superset.charts.data.api.data",
    "superset.dashboards.api.cache_dashboard_screenshot",
    "superset.views.core.explore_json",
    "superset.views.core.log",
    "superset.views.datasource.views.samples",
    *_env_list("SUPERSET_CSRF_EXEMPT"),
]

# Plain-HTTP local install: cookies must not be Secure-only.
SESSION_COOKIE_SECURE = _env_bool("SUPERSET_SESSION_COOKIE_SECURE", False)
SESSION_COOKIE_SAMESITE = "Lax"
TALISMAN_ENABLED = _env_bool("SUPERSET_TALISMAN_ENABLED", True)
