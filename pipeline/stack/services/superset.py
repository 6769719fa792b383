"""Apache Superset: web server (gunicorn), Celery worker and beat for Alerts & Reports.

Superset's dependency pins fight the pipeline's (SQLAlchemy 1.4, numpy 1.26),
so it gets its own virtualenv, installed against infra/local/superset/constraints.txt
(each load-bearing pin is explained there). Its metadata DB is the stack's
Postgres; Redis is Celery's broker and the cache; mail goes to the SMTP sink.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from pipeline.config import Config, SupersetConfig, require_secret
from pipeline.stack import health as probe
from pipeline.stack.errors import StackError
from pipeline.stack.install import stamp
from pipeline.stack.layout import Layout
from pipeline.stack.service import Service, Unhealthy

# gunicorn's request limits stay at its defaults (request line 4094 bytes, header field 8190 bytes,
# 100 header fields): 0 would mean unlimited, letting one request hold a worker's memory.
GUNICORN_OPTIONS = ("--worker-class", "gthread", "--threads", "4", "--timeout", "120", "--graceful-timeout", "30",
                    "--max-requests", "1000", "--max-requests-jitter", "100")

# Besides apache-superset[postgres,druid] itself: its undeclared imports (rich, cachetools) and what runs it.
EXTRA_PACKAGES = ("psycopg2-binary", "pydruid", "redis<6", "celery[redis]", "gunicorn", "rich", "cachetools")


def venv_dir(config: Config, layout: Layout) -> Path:
    key = stamp.digest(layout.infra / "superset" / "constraints.txt", config.superset.version, *EXTRA_PACKAGES)
    return layout.cache_dir / "venvs" / f"superset-{config.superset.version}-{key[:10]}"


def install(config: Config, layout: Layout) -> None:
    venv = venv_dir(config, layout)
    if (venv / ".ready").exists():
        return
    constraints = layout.infra / "superset" / "constraints.txt"
    packages = [f"apache-superset[postgres,druid]=={config.superset.version}", *EXTRA_PACKAGES]
    for argv in (
        [sys.executable, "-m", "venv", "--clear", str(venv)],
        [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "-c", str(constraints), *packages],
    ):
        result = subprocess.run(argv, capture_output=True, text=True, timeout=1800)
        if result.returncode != 0:
            raise StackError(f"installing Superset failed at `{' '.join(argv[:4])} ...`:\n{result.stderr[-3000:]}")
    (venv / ".ready").touch()


def health(superset: SupersetConfig) -> str:
    body = probe.http(f"{superset.base_url}/health")
    if body.strip() != b"OK":
        raise Unhealthy(f"{superset.base_url}/health answered {body[:60]!r}")
    return "/health OK"


def login(superset: SupersetConfig) -> str:
    """A JWT for the REST API (admin user of the local stack, or the configured one)."""
    payload = probe.http(f"{superset.base_url}/api/v1/security/login", method="POST", timeout=15, body={
        "username": superset.admin_user, "password": superset.admin_password, "provider": "db", "refresh": False})
    return json.loads(payload)["access_token"]


def _environment(config: Config, layout: Layout) -> dict[str, str]:
    """Secrets go to Superset through its environment (readable only by its user), never its argv."""
    ss, pg = config.superset, config.postgres
    venv = venv_dir(config, layout)
    return {
        "SUPERSET_CONFIG_PATH": str(layout.infra / "superset" / "superset_config.py"),
        "SUPERSET_HOME": str(layout.data / "superset"),
        "FLASK_APP": "superset",
        "PATH": f"{venv / 'bin'}:/usr/local/bin:/usr/bin:/bin",
        "SUPERSET_SECRET_KEY": require_secret("superset", "secret_key", ss.secret_key),
        "SUPERSET_DATABASE_URI": pg.url("superset", require_secret("superset", "db_password", ss.db_password),
                                        "superset", scheme="postgresql+psycopg2"),
        "SUPERSET_REDIS_URL": f"redis://{config.redis.host}:{config.redis.port}",
        "SUPERSET_SMTP_HOST": config.smtp.host,
        "SUPERSET_SMTP_PORT": str(config.smtp.port),
        "SUPERSET_SMTP_MAIL_FROM": config.smtp.mail_from,
        "SUPERSET_WEBSERVER_PORT": str(ss.port),
        "SUPERSET_WEBDRIVER_BASEURL": f"{ss.base_url}/",
        "SUPERSET_ALERT_REPORTS_EXECUTOR_USER": ss.admin_user,
        # Selenium must not try to download drivers (no internet); PNG reports use Debian's chromedriver.
        "SE_OFFLINE": "true",
    }


def _log_marker(layout: Layout, name: str, marker: str) -> str:
    """Healthy once `marker` appears in the log since the process's last start.

    Celery has no cheap liveness endpoint (`inspect ping` imports all of Superset, ~10 s);
    the supervisor already checks the process is alive, this checks it got to "ready".
    """
    path = layout.log_file(name)
    text = path.read_text(errors="replace") if path.exists() else ""
    since_start = text.rsplit("\n=== ", 1)[-1]
    if marker not in since_start:
        raise Unhealthy(f"waiting for {marker!r} in {path}")
    return f"log says {marker!r}"


def _setup_metadata(config: Config, layout: Layout) -> None:
    """`db upgrade`, admin user and `init`: once per run dir and Superset version (about 20 s)."""
    marker = layout.data / "superset" / f".initialised-{config.superset.version}"
    if marker.exists():
        return
    marker.parent.mkdir(parents=True, exist_ok=True)
    ss = config.superset
    env = _environment(config, layout)
    superset = str(venv_dir(config, layout) / "bin" / "superset")
    # The admin's password reaches `fab create-admin` through Click's environment variable for its
    # --password option (Flask's CLI prefix FLASK_ + command path), so it is not visible in `ps`.
    admin_env = {"FLASK_FAB_CREATE_ADMIN_PASSWORD": require_secret("superset", "admin_password", ss.admin_password)}
    steps = [
        ([superset, "db", "upgrade"], {}),
        ([superset, "fab", "create-admin", "--username", ss.admin_user, "--firstname", "Admin", "--lastname",
          "User", "--email", "admin@cdc-olap.example"], admin_env),
        ([superset, "init"], {}),
    ]
    with open(layout.log_file("superset-setup"), "a") as log:
        for argv, extra_env in steps:
            # No terminal and no stdin: a prompt (if the variable were not honoured) fails instead of waiting.
            result = subprocess.run(argv, env={**env, **extra_env}, stdout=log, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, start_new_session=True, timeout=600,
                                    cwd=layout.data / "superset")
            if result.returncode != 0:
                raise StackError(f"`superset {' '.join(argv[1:3])}` failed; see {layout.log_file('superset-setup')}")
    marker.touch()


def web_argv(config: Config, layout: Layout) -> list[str]:
    ss = config.superset
    return [str(venv_dir(config, layout) / "bin" / "gunicorn"), "--bind", f"{ss.host}:{ss.port}",
            "--workers", str(ss.web_workers), *GUNICORN_OPTIONS, "superset.app:create_app()"]


def services(config: Config, layout: Layout) -> list[Service]:
    ss = config.superset
    # Built when a process starts: the stack's secrets exist by then, not necessarily for `status`.
    env = lambda: _environment(config, layout)  # noqa: E731
    venv_bin = venv_dir(config, layout) / "bin"
    workdir = layout.data / "superset"
    workdir.mkdir(parents=True, exist_ok=True)
    celery = [str(venv_bin / "celery"), "--app=superset.tasks.celery_app:app"]
    return [
        Service(
            name="superset-web",
            port=ss.port,
            argv=web_argv(config, layout),
            env=env,
            cwd=workdir,
            health=lambda: health(ss),
            requires=("postgres", "redis"),
            prepare=lambda: _setup_metadata(config, layout),
            start_timeout_s=180,
        ),
        Service(
            name="superset-worker",
            port=None,
            argv=[*celery, "worker", "--pool=prefork", "--concurrency=1", "--loglevel=INFO", "-O", "fair",
                  "--max-memory-per-child=512000", "--hostname=superset-worker@%h"],
            env=env,
            cwd=workdir,
            health=lambda: _log_marker(layout, "superset-worker", " ready."),
            requires=("superset-web", "smtp"),
            start_timeout_s=120,
        ),
        Service(
            name="superset-beat",
            port=None,
            argv=[*celery, "beat", "--loglevel=INFO", f"--schedule={workdir / 'celerybeat-schedule'}"],
            env=env,
            cwd=workdir,
            health=lambda: _log_marker(layout, "superset-beat", "beat: Starting..."),
            requires=("superset-web",),
            start_timeout_s=120,
        ),
    ]
