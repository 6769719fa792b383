"""What the stack would run, checked without running it: no secret in any argv, gunicorn's request
limits on, Superset's metadata URL percent-encoded."""

from urllib.parse import unquote, urlsplit

import pytest

from pipeline.config import LOCAL_SECRETS, load_config
from pipeline.stack import secrets, stack
from pipeline.stack.services import superset


@pytest.fixture
def config(tmp_path):
    return secrets.ensure(load_config(env={"CDC_OLAP_STACK_RUN_DIR": str(tmp_path / "run"),
                                           "CDC_OLAP_SUPERSET_DB_PASSWORD": "s@t:/%' x"}))


def test_no_secret_on_any_command_line(config):
    supervisor = stack.build(config)
    values = [getattr(getattr(config, section), key) for section, key in LOCAL_SECRETS.values()]
    assert all(values)
    for service in supervisor.services.values():
        argv = " ".join(service.argv)
        leaked = [v for v in values if v in argv]
        assert not leaked, f"{service.name} has a secret in its argv"


def test_gunicorn_keeps_its_request_limits(config):
    argv = superset.web_argv(config, stack.build(config).layout)
    for option in ("--limit-request-line", "--limit-request-field_size", "--limit-request-fields"):
        assert option not in argv, f"{option} overrides gunicorn's default limit"
    assert argv[argv.index("--bind") + 1] == f"127.0.0.1:{config.superset.port}"


def test_superset_metadata_url_survives_an_awkward_password(config):
    web = stack.build(config).services["superset-web"]
    env = web.env() if callable(web.env) else web.env
    url = urlsplit(env["SUPERSET_DATABASE_URI"])
    assert unquote(url.password) == "s@t:/%' x"
    assert (url.hostname, url.port, url.path) == ("127.0.0.1", config.postgres.port, "/superset")
