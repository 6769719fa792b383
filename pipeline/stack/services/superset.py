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

from pipeline.config import Config, SupersetConfig
from pipeline.stack import health as probe
from pipeline.stack.errors import StackError
from pipeline.stack.install import stamp
from pipeline.stack.layout import Layout
from pipeline.stack.service import Service, Unhealthy

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
    ss, pg = config.superset, config.postgres
    venv = venv_dir(config, layout)
    return {
        "SUPERSET_CONFIG_PATH": str(layout.infra / "superset" / "superset_config.py"),
        "SUPERSET_HOME": str(layout.data / "superset"),
        "FLASK_APP": "superset",
        "PATH": f"{venv / 'bin'}:/usr/local/bin:/usr/bin:/bin",
        "SUPERSET_SECRET_KEY": ss.secret_key or "",
        "SUPERSET_DATABASE_URI": f"postgresql+psycopg2://superset:{ss.db_password}@{pg.host}:{pg.port}/superset",
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


def _setup_metadata(config: Config, layout: Layout, env: dict[str, str]) -> None:
    """`db upgrade`, admin user and `init`: once per run dir and Superset version (about 20 s)."""
    marker = layout.data / "superset" / f".initialised-{config.superset.version}"
    if marker.exists():
        return
    marker.parent.mkdir(parents=True, exist_ok=True)
    ss = config.superset
    superset = str(venv_dir(config, layout) / "bin" / "superset")
    steps = [
        [superset, "db", "upgrade"],
        [superset, "fab", "create-admin", "--username", ss.admin_user, "--firstname", "Admin", "--lastname",
         "User", "--email", "admin@cdc-olap.example", "--password", ss.admin_password or ""],
        [superset, "init"],
    ]
    with open(layout.log_file("superset-setup"), "a") as log:
        for argv in steps:
            result = subprocess.run(argv, env=env, stdout=log, stderr=subprocess.STDOUT, timeout=600,
                                    cwd=layout.data / "superset")
            if result.returncode != 0:
                raise StackError(f"`superset {' '.join(argv[1:3])}` failed; see {layout.log_file('superset-setup')}")
    marker.touch()


def services(config: Config, layout: Layout) -> list[Service]:
    ss = config.superset
    env = _environment(config, layout)
    venv_bin = venv_dir(config, layout) / "bin"
    workdir = layout.data / "superset"
    workdir.mkdir(parents=True, exist_ok=True)
    celery = [str(venv_bin / "celery"), "--app=superset.tasks.celery_app:app"]
    return [
        Service(
            name="superset-web",
            port=ss.port,
            argv=[str(venv_bin / "gunicorn"), "--bind", f"{ss.host}:{ss.port}", "--workers", str(ss.web_workers),
                  "--worker-class", "gthread", "--threads", "4", "--timeout", "120", "--graceful-timeout", "30",
                  "--max-requests", "1000", "--max-requests-jitter", "100", "--limit-request-line", "0",
                  "--limit-request-field_size", "0", "superset.app:create_app()"],
            env=env,
            cwd=workdir,
            health=lambda: health(ss),
            requires=("postgres", "redis"),
            prepare=lambda: _setup_metadata(config, layout, env),
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
