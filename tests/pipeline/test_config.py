import pytest

from pipeline.config import ConfigError, load_config


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


def test_local_secrets_are_generated_once_and_private(tmp_path):
    first = load_config(env=_env(tmp_path))
    second = load_config(env=_env(tmp_path))
    assert first.postgres.password and first.postgres.password == second.postgres.password
    assert first.superset.secret_key != first.superset.admin_password
    mode = (tmp_path / "run" / "secrets.env").stat().st_mode & 0o777
    assert mode == 0o600


def test_external_services_get_no_generated_password(tmp_path):
    config = load_config(env=_env(tmp_path, CDC_OLAP_POSTGRES_MANAGED="false", CDC_OLAP_SUPERSET_MANAGED="false"))
    assert config.postgres.password is None
    assert not (tmp_path / "run" / "secrets.env").exists()


def test_the_mask_key_is_generated_for_the_local_stack_and_checked_elsewhere(tmp_path):
    generated = load_config(env=_env(tmp_path)).cdc.mask_key
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
