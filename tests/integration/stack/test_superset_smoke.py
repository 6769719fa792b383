"""Superset: REST login, register the stack's Druid (Superset tests the pydruid connection), list databases."""

import uuid
from urllib.parse import urlparse

import requests


def test_login_register_druid_and_list_databases(test_stack):
    config = test_stack.need("superset-web", "druid-broker")
    base = config.superset.base_url
    session = requests.Session()
    login = session.post(f"{base}/api/v1/security/login", timeout=30, json={
        "username": config.superset.admin_user, "password": config.superset.admin_password, "provider": "db"})
    assert login.status_code == 200, login.text
    session.headers["Authorization"] = f"Bearer {login.json()['access_token']}"
    # Writes need the CSRF token together with the session cookie this call sets.
    session.headers["X-CSRFToken"] = session.get(f"{base}/api/v1/security/csrf_token/", timeout=30).json()["result"]
    session.headers["Referer"] = base

    broker = urlparse(config.druid.broker)
    name = f"smoke-druid-{uuid.uuid4().hex[:6]}"
    created = session.post(f"{base}/api/v1/database/", timeout=60, json={
        "database_name": name, "expose_in_sqllab": True,
        "sqlalchemy_uri": f"druid://{broker.hostname}:{broker.port}/druid/v2/sql/"})
    assert created.status_code == 201, created.text
    try:
        listed = session.get(f"{base}/api/v1/database/", timeout=30)
        assert listed.status_code == 200
        by_name = {d["database_name"]: d for d in listed.json()["result"]}
        assert by_name[name]["backend"] == "druid"
    finally:
        session.delete(f"{base}/api/v1/database/{created.json()['id']}", timeout=30)
