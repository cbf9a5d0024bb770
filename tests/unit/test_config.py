"""wow.yaml (SPEC 2): defaults, unknown keys, bad values, YAML clock quirks."""

from __future__ import annotations

import pytest

from wow_metrics.config import ConfigError, Settings, load_settings
from wow_metrics.state import OPERATIONAL_SETTINGS

DEFAULTS = {
    "default_timezone": "UTC",
    "idle_threshold_seconds": 300,
    "workday_start": "07:00",
    "workday_end": "17:30",
    "schedule_window_grace_minutes": 30,
    "period": "month",
    "min_cell_size": 5,
    "min_scheduled_hours": 8,
    "wow_threshold_hours_per_fte_week": 5,
    # the publication gate's reference checks: whether a run publishes, never a figure
    "reference_check_severity": "critical",
    "max_reference_reject_share": 0.1,
    "max_eligible_drop_share": 0.5,
    # operational settings: speed only, never a figure
    "build_partitions": None,
    "threads": None,
    "memory_limit": None,
    "lock_wait_seconds": 0,
    "file_mode": "owner",
}


def write_yaml(tmp_path, text: str):
    (tmp_path / "wow.yaml").write_text(text, encoding="utf-8")
    return tmp_path


def test_defaults_when_wow_yaml_is_absent(tmp_path):
    assert not (tmp_path / "wow.yaml").exists()
    settings = load_settings(tmp_path)
    assert settings.model_dump() == DEFAULTS
    assert settings == Settings()
    assert settings.workday_start_seconds == 7 * 3600
    assert settings.workday_end_seconds == 17 * 3600 + 30 * 60


def test_empty_wow_yaml_means_defaults(tmp_path):
    assert load_settings(write_yaml(tmp_path, "")).model_dump() == DEFAULTS


def test_partial_wow_yaml_keeps_other_defaults(tmp_path):
    settings = load_settings(write_yaml(
        tmp_path, "default_timezone: America/New_York\nperiod: week\nidle_threshold_seconds: 120\n"))
    assert settings.model_dump() == {**DEFAULTS, "default_timezone": "America/New_York",
                                     "period": "week", "idle_threshold_seconds": 120}


def test_defaults_are_published_in_metric_definitions(landing):
    landing.canonical([{"clinician_id": "c1", "event_time": "2026-03-02T14:00:00Z",
                        "action": "Chart opened"}])
    pub = landing.run()
    settings = {r["name"]: r["value"] for r in pub.query(
        "select name, value from metric_definitions where kind = 'setting'")}
    # An unset optional setting is NULL, not the text 'None'. Operational settings (speed only)
    # are not definitions of any figure and are not published.
    assert settings == {k: (None if v is None else str(v)) for k, v in DEFAULTS.items()
                        if k not in OPERATIONAL_SETTINGS}
    assert "threads" not in settings and "build_partitions" not in settings


@pytest.mark.parametrize("key", ["idle_treshold_seconds", "timezone", "Period"])
def test_unknown_key_fails_naming_the_key(tmp_path, key):
    write_yaml(tmp_path, f"{key}: 300\n")
    with pytest.raises(ConfigError, match=key) as info:
        load_settings(tmp_path)
    assert "unknown key" in str(info.value)


def test_unknown_key_stops_the_run(landing):
    landing.config(idle_treshold_seconds=300)
    landing.canonical([{"clinician_id": "c1", "event_time": "2026-03-02T14:00:00Z",
                        "action": "Chart opened"}])
    with pytest.raises(ConfigError, match="idle_treshold_seconds"):
        landing.run()
    assert not (landing.warehouse / "wow.duckdb").exists()


BAD_VALUES = {
    "unknown timezone": ("default_timezone: Mars/Olympus\n", "default_timezone"),
    "negative idle threshold": ("idle_threshold_seconds: -5\n", "idle_threshold_seconds"),
    "zero idle threshold": ("idle_threshold_seconds: 0\n", "idle_threshold_seconds"),
    "workday_start after workday_end": ('workday_start: "18:00"\nworkday_end: "17:30"\n',
                                        "workday_start"),
    "workday_start equal to workday_end": ('workday_start: "09:00"\nworkday_end: "09:00"\n',
                                           "workday_start"),
    "clock not a time": ('workday_end: "half past five"\n', "workday_end"),
    "period year": ("period: year\n", "period"),
    "negative grace": ("schedule_window_grace_minutes: -1\n", "schedule_window_grace_minutes"),
    "min_cell_size zero": ("min_cell_size: 0\n", "min_cell_size"),
    "negative min_scheduled_hours": ("min_scheduled_hours: -8\n", "min_scheduled_hours"),
    "negative wow threshold": ("wow_threshold_hours_per_fte_week: -1\n",
                               "wow_threshold_hours_per_fte_week"),
}


@pytest.mark.parametrize("case", list(BAD_VALUES))
def test_bad_value_fails_naming_the_key(tmp_path, case):
    text, key = BAD_VALUES[case]
    write_yaml(tmp_path, text)
    with pytest.raises(ConfigError, match=key):
        load_settings(tmp_path)


def test_unknown_timezone_message_names_the_zone(tmp_path):
    write_yaml(tmp_path, "default_timezone: Mars/Olympus\n")
    with pytest.raises(ConfigError, match="Mars/Olympus"):
        load_settings(tmp_path)


def test_not_a_mapping_or_not_yaml_fails(tmp_path):
    write_yaml(tmp_path, "- just\n- a list\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_settings(tmp_path)
    write_yaml(tmp_path, "period: [month\n")
    with pytest.raises(ConfigError, match="YAML"):
        load_settings(tmp_path)


def test_unquoted_yaml_clock_is_read_as_a_clock(tmp_path):
    # YAML 1.1 reads unquoted 07:00 as the base-60 integer 420 (and 17:30 as 1050).
    settings = load_settings(write_yaml(tmp_path, "workday_start: 07:00\nworkday_end: 17:30\n"))
    assert settings.workday_start == "07:00"
    assert settings.workday_end == "17:30"
    assert settings.workday_start_seconds == 7 * 3600
    assert settings.workday_end_seconds == 17 * 3600 + 30 * 60


def test_unquoted_yaml_clock_other_values(tmp_path):
    settings = load_settings(write_yaml(tmp_path, "workday_start: 06:45\nworkday_end: 18:05\n"))
    assert (settings.workday_start, settings.workday_end) == ("06:45", "18:05")


def test_quoted_clock_is_normalised(tmp_path):
    settings = load_settings(write_yaml(tmp_path, 'workday_start: "7:05"\nworkday_end: "17:30"\n'))
    assert (settings.workday_start, settings.workday_end) == ("07:05", "17:30")
