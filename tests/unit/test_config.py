from __future__ import annotations

import pytest

from lti_bridge.config import ConfigError, ensure_secret_key, load_settings


def test_defaults_put_sqlite_under_the_instance_folder(tmp_path):
    settings = load_settings({"LTI_BRIDGE_INSTANCE_PATH": str(tmp_path)})
    assert settings.database_url == f"sqlite:///{tmp_path / 'lti_bridge.sqlite3'}"


def test_environment_overrides_the_toml_file(tmp_path):
    config = tmp_path / "bridge.toml"
    config.write_text('jwt_leeway_seconds = 30\nhelp_url = "https://help.example.edu"\n')
    settings = load_settings(
        {"LTI_BRIDGE_CONFIG": str(config), "LTI_BRIDGE_JWT_LEEWAY_SECONDS": "90"}
    )
    assert settings.jwt_leeway_seconds == 90
    assert settings.help_url == "https://help.example.edu"


def test_secrets_are_refused_in_the_toml_file(tmp_path):
    config = tmp_path / "bridge.toml"
    config.write_text('secret_key = "in-a-file"\n')
    with pytest.raises(ConfigError, match="environment"):
        load_settings({"LTI_BRIDGE_CONFIG": str(config)})


def test_numeric_secret_stays_text():
    digits = "1234567890" * 4
    assert load_settings({"LTI_BRIDGE_SECRET_KEY": digits}).secret_key == digits


@pytest.mark.parametrize("key", ["x", "short-secret", "a" * 31, "é" * 15])
def test_a_secret_key_shorter_than_32_bytes_is_refused(key):
    # Sessions and CSRF tokens are HMACs under this key: a short one can be guessed offline.
    with pytest.raises(ConfigError, match="at least 32 bytes"):
        load_settings({"LTI_BRIDGE_SECRET_KEY": key})


def test_a_secret_key_of_32_bytes_is_accepted():
    assert load_settings({"LTI_BRIDGE_SECRET_KEY": "k" * 32}).secret_key == "k" * 32


def test_webhook_secrets_are_space_separated_and_checked():
    settings = load_settings({"LTI_BRIDGE_WEBHOOK_SECRETS": "whsec_a  whsec_b"})
    assert settings.webhook_secrets == ("whsec_a", "whsec_b")
    with pytest.raises(ConfigError, match="whsec_"):
        load_settings({"LTI_BRIDGE_WEBHOOK_SECRETS": "plain"})


def test_bad_number_names_the_variable():
    with pytest.raises(ConfigError, match="LTI_BRIDGE_JWT_LEEWAY_SECONDS"):
        load_settings({"LTI_BRIDGE_JWT_LEEWAY_SECONDS": "soon"})


def test_unknown_toml_key_is_refused(tmp_path):
    config = tmp_path / "bridge.toml"
    config.write_text("leeway = 3\n")
    with pytest.raises(ConfigError, match="unknown setting 'leeway'"):
        load_settings({"LTI_BRIDGE_CONFIG": str(config)})


def test_secret_key_is_generated_once_and_kept(tmp_path):
    settings = load_settings({"LTI_BRIDGE_INSTANCE_PATH": str(tmp_path)})
    first = ensure_secret_key(settings)
    second = ensure_secret_key(settings)
    assert first.secret_key and first.secret_key == second.secret_key
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0


@pytest.mark.parametrize(
    "value", ["https://lms.example.edu; script-src *", "*", "lms.example.edu", "https://a/b"]
)
def test_a_frame_ancestor_that_is_not_an_origin_is_refused(value):
    with pytest.raises(ConfigError, match="FRAME_ANCESTORS"):
        load_settings(overrides={"frame_ancestors": (value,)})
