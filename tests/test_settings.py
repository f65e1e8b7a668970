"""Settings come from the environment, with safe embedded defaults and fail-fast production."""

from __future__ import annotations

import pytest

from screen.settings import SettingsError, load_settings


def test_defaults_need_no_configuration() -> None:
    settings = load_settings({})

    assert settings.database_url == "sqlite+aiosqlite:///screen.db"
    assert settings.smtp_url is None
    assert settings.answer_max_bytes == 64 * 1024
    assert settings.grace_seconds == 60


def test_production_refuses_the_default_secret_and_names_the_variable() -> None:
    with pytest.raises(SettingsError, match="SCREEN_SECRET_KEY"):
        load_settings({"SCREEN_ENV": "production"})


def test_production_starts_with_a_real_secret() -> None:
    settings = load_settings(
        {
            "SCREEN_ENV": "production",
            "SCREEN_SECRET_KEY": "k" * 40,
            "SCREEN_METRICS_TOKEN": "m" * 40,
            "SCREEN_BASE_URL": "https://screen.example.com/",
        }
    )

    assert settings.production
    assert settings.base_url == "https://screen.example.com"


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("SCREEN_ANSWER_MAX_BYTES", "lots"),
        ("SCREEN_ANSWER_MAX_BYTES", "10"),
        ("SCREEN_GRACE_SECONDS", "-1"),
        ("SCREEN_SECRET_KEY", "short"),
        ("SCREEN_NOTIFY_HOUR", "24"),
        ("SCREEN_NOTIFY_HOUR", "nine"),
        ("SCREEN_NOTIFY_TIME_ZONE", "Mars/Olympus_Mons"),
        ("SCREEN_DATABASE_POOL_SIZE", "0"),
        ("SCREEN_DATABASE_POOL_SIZE", "many"),
        ("SCREEN_DATABASE_POOLER", "session"),
    ],
)
def test_a_bad_value_is_refused_with_the_variable_named(variable: str, value: str) -> None:
    with pytest.raises(SettingsError, match=variable):
        load_settings({variable: value})


def test_notifications_default_to_nine_o_clock_utc_and_read_both_variables() -> None:
    assert (load_settings({}).notify_hour, load_settings({}).notify_time_zone) == (9, "UTC")
    chosen = load_settings({"SCREEN_NOTIFY_HOUR": "8", "SCREEN_NOTIFY_TIME_ZONE": "Europe/Berlin"})
    assert (chosen.notify_hour, chosen.notify_time_zone) == (8, "Europe/Berlin")


def test_the_test_only_duration_is_read_outside_production() -> None:
    assert load_settings({}).test_duration_seconds is None
    assert load_settings({"SCREEN_TEST_DURATION_SECONDS": "12"}).test_duration_seconds == 12


def test_production_refuses_the_test_only_duration_and_names_the_variable() -> None:
    with pytest.raises(SettingsError, match=r"SCREEN_TEST_DURATION_SECONDS.*SCREEN_ENV=production"):
        load_settings(
            {
                "SCREEN_ENV": "production",
                "SCREEN_SECRET_KEY": "k" * 40,
                "SCREEN_TEST_DURATION_SECONDS": "12",
            }
        )


@pytest.mark.parametrize("value", ["0", "3601", "soon"])
def test_a_test_duration_out_of_range_is_refused(value: str) -> None:
    with pytest.raises(SettingsError, match="SCREEN_TEST_DURATION_SECONDS"):
        load_settings({"SCREEN_TEST_DURATION_SECONDS": value})


def test_database_pool_size_and_pooler_are_read() -> None:
    defaults = load_settings({})
    behind = load_settings(
        {"SCREEN_DATABASE_POOL_SIZE": "8", "SCREEN_DATABASE_POOLER": "Transaction"}
    )

    assert (defaults.database_pool_size, defaults.database_pooler) == (20, None)
    assert (behind.database_pool_size, behind.database_pooler) == (8, "transaction")
