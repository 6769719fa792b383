from urllib.parse import unquote, urlsplit

import pytest
from psycopg.conninfo import conninfo_to_dict

from pipeline.config import ConfigError, PostgresConfig, load_config

# Every character that breaks a naively built DSN or URL: @ : / % ' space, and a backslash.
AWKWARD = "p@ss:w/o%rd' x\\y"


def _env(tmp_path, **extra):
    return {"CDC_OLAP_STACK_RUN_DIR": str(tmp_path / "run"), **extra}


def test_defaults_point_at_the_managed_local_stack(tmp_path):
    config = load_config(env=_env(tmp_path))
    assert config.kafka.bootstrap == "127.0.0.1:29092"
    assert config.druid.broker == "http://127.0.0.1:28082"
    assert config.aws.endpoint == "http://127.0.0.1:25000"


def test_port_offset_moves_managed_ports_only(tmp_path):
    config = load_config(env=_env(tmp_path, CDC_OLAP_STACK_PORT_OFFSET="1000",
                                  CDC_OLAP_KAFKA_MANAGED="false", CDC_OLAP_KAFKA_BOOTSTRAP_SERVERS="b1:9092"))
    assert config.postgres.port == 26432
    assert config.druid.broker_port == 29082
    assert config.kafka.bootstrap == "b1:9092"
    assert config.kafka.port == 29092  # external: untouched


def test_environment_overrides_file(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('[postgres]\nport = 7000\n[superset]\nurl = "https://bi.example"\n')
    config = load_config(path, env=_env(tmp_path, CDC_OLAP_POSTGRES_PORT="7001"))
    assert config.postgres.port == 7001
    assert config.superset.base_url == "https://bi.example"


def test_unknown_key_is_named_with_the_valid_ones(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text("[kafka]\nbootstrap = 'x'\n")
    with pytest.raises(ConfigError, match=r"unknown key\(s\) bootstrap in section \[kafka\].*bootstrap_servers"):
        load_config(path, env=_env(tmp_path))


def test_bad_type_names_section_key_and_variable(tmp_path):
    with pytest.raises(ConfigError, match=r"\[postgres\] port = 'abc'.*CDC_OLAP_POSTGRES_PORT"):
        load_config(env=_env(tmp_path, CDC_OLAP_POSTGRES_PORT="abc"))


def test_missing_explicit_config_file_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "missing.toml", env=_env(tmp_path))


def test_remote_flink_needs_rest_url(tmp_path):
    with pytest.raises(ConfigError, match="rest_url"):
        load_config(env=_env(tmp_path, CDC_OLAP_FLINK_MODE="remote"))


def test_loading_config_writes_nothing(tmp_path):
    config = load_config(env=_env(tmp_path))
    assert not (tmp_path / "run").exists()
    assert config.postgres.password is None  # the stack generates it on `up`, not the config loader


def test_local_stack_secrets_are_read_for_managed_sections_only(tmp_path):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "secrets.env").write_text("# generated\npostgres_password=from-file\n"
                                                  "superset_admin_password=admin-file\n")
    managed = load_config(env=_env(tmp_path, CDC_OLAP_SUPERSET_ADMIN_PASSWORD="from-env"))
    assert managed.postgres.password == "from-file"
    assert managed.superset.admin_password == "from-env"  # the environment wins over the stack's file
    external = load_config(env=_env(tmp_path, CDC_OLAP_POSTGRES_MANAGED="false"))
    assert external.postgres.password is None


def test_dsn_quotes_every_character_of_a_password(tmp_path):
    pg = PostgresConfig(password=AWKWARD, superuser_password=AWKWARD + "!", user="o'neil app")
    parsed = conninfo_to_dict(pg.dsn("db name"))
    assert parsed["password"] == AWKWARD
    assert parsed["user"] == "o'neil app" and parsed["dbname"] == "db name"
    assert parsed["host"] == "127.0.0.1" and parsed["port"] == "25432"
    assert conninfo_to_dict(pg.dsn(superuser=True))["password"] == AWKWARD + "!"


def test_url_percent_encodes_user_and_password():
    url = PostgresConfig(host="db.internal", port=5433).url("super set", AWKWARD, "superset",
                                                            scheme="postgresql+psycopg2")
    parts = urlsplit(url)
    assert (parts.scheme, parts.hostname, parts.port, parts.path) == ("postgresql+psycopg2", "db.internal", 5433,
                                                                     "/superset")
    assert unquote(parts.password) == AWKWARD and unquote(parts.username) == "super set"
    assert "@" not in parts.password and "/" not in parts.password


@pytest.mark.parametrize("superuser, key", [(False, "password"), (True, "superuser_password")])
def test_missing_password_is_an_error_naming_key_and_variable(superuser, key):
    with pytest.raises(ConfigError, match=rf"\[postgres\] {key} is not set.*CDC_OLAP_POSTGRES_{key.upper()}"):
        PostgresConfig().dsn(superuser=superuser)
    with pytest.raises(ConfigError, match="not set"):
        PostgresConfig(password="", superuser_password="").dsn(superuser=superuser)


def test_external_services_get_no_generated_password(tmp_path):
    config = load_config(env=_env(tmp_path, CDC_OLAP_POSTGRES_MANAGED="false", CDC_OLAP_SUPERSET_MANAGED="false"))
    assert config.postgres.password is None
    assert not (tmp_path / "run" / "secrets.env").exists()


def test_the_mask_key_is_generated_for_the_local_stack_and_checked_elsewhere(tmp_path):
    from pipeline.stack import secrets

    assert load_config(env=_env(tmp_path)).cdc.mask_key is None  # loading generates nothing
    generated = secrets.ensure(load_config(env=_env(tmp_path))).cdc.mask_key
    assert generated and len(generated) >= 40 and generated == load_config(env=_env(tmp_path)).cdc.mask_key
    with pytest.raises(ConfigError, match=r"\[cdc\] mask_key has 5 characters; use a random secret of at least 16"):
        load_config(env=_env(tmp_path, CDC_OLAP_CDC_MASK_KEY="short"))


def test_the_old_salt_setting_names_its_new_name(tmp_path):
    with pytest.raises(ConfigError, match=r"\[cdc\] mask_salt .* was renamed to mask_key \(CDC_OLAP_CDC_MASK_KEY\)"):
        load_config(env=_env(tmp_path, CDC_OLAP_CDC_MASK_SALT="a-salt-from-the-vault"))
    path = tmp_path / "c.toml"
    path.write_text("[cdc]\nmask_salt = 'a-salt-from-the-vault'\n")
    with pytest.raises(ConfigError, match="renamed to mask_key"):
        load_config(path, env=_env(tmp_path))


def test_signed_tables_default_and_switch_off(tmp_path):
    assert load_config(env=_env(tmp_path)).cdc.signed_tables == ("transactions", "ledger_entries", "disputes")
    assert load_config(env=_env(tmp_path, CDC_OLAP_CDC_SIGNED_TABLES="")).cdc.signed_tables == ()
    path = tmp_path / "c.toml"
    path.write_text("[cdc]\nsigned_tables = []\n")
    assert load_config(path, env=_env(tmp_path)).cdc.signed_tables == ()


def test_signed_tables_are_plain_table_names(tmp_path):
    with pytest.raises(ConfigError, match=r"\[cdc\] signed_tables names 'public.transactions': use plain table names"):
        load_config(env=_env(tmp_path, CDC_OLAP_CDC_SIGNED_TABLES="public.transactions,disputes"))
