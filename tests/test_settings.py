"""Environment settings: typed defaults, overrides, and one line per bad value naming the variable."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from passerelle.invoicing.issue import FORMATS, document_formats
from passerelle.paths import output_dir, state_dir
from passerelle.settings import (
    PROJECT_ROOT, InvoiceFormat, Settings, SettingsError, env_var, get_args, reload_settings, settings,
)

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in Settings.model_fields:
        monkeypatch.delenv(env_var(name), raising=False)
    reload_settings()
    return monkeypatch


def test_defaults(clean_env) -> None:
    current = settings()
    assert current.state_dir == PROJECT_ROOT / ".passerelle" and current.output_dir == PROJECT_ROOT / "output"
    assert current.invoice_formats == ("facturx",) and current.pa_name == "Plateforme agréée"
    assert current.flux10_dir == PROJECT_ROOT / "include" / "rules" / "flux10"
    assert (current.gx_dir, current.seller_file, current.pa_matricule, current.log_level, current.crash_at) == (
        None, None, None, None, None)
    assert get_args(InvoiceFormat) == FORMATS  # the setting accepts exactly what issuing writes


def test_environment_overrides_are_seen_without_an_explicit_reload(clean_env, tmp_path: Path) -> None:
    clean_env.setenv("PASSERELLE_OUTPUT_DIR", str(tmp_path / "out"))
    clean_env.setenv("PASSERELLE_INVOICE_FORMATS", " UBL, facturx ,")
    clean_env.setenv("PASSERELLE_PA_MATRICULE", " 0042 ")
    clean_env.setenv("PASSERELLE_STATE_DIR", "")  # empty counts as unset
    assert output_dir() == tmp_path / "out" and (tmp_path / "out").is_dir()
    assert document_formats() == ("facturx", "ubl")
    assert settings().pa_matricule == "0042" and state_dir() == PROJECT_ROOT / ".passerelle"
    clean_env.setenv("PASSERELLE_INVOICE_FORMATS", "cii")
    assert document_formats() == ("facturx", "cii")
    assert settings() is settings()  # read once per state of the environment


def test_log_level_applies_to_passerelle_loggers(clean_env) -> None:
    logger = logging.getLogger("passerelle")
    before = logger.level
    try:
        clean_env.setenv("PASSERELLE_LOG_LEVEL", "warning")
        assert settings().log_level == "WARNING" and logger.level == logging.WARNING
    finally:
        logger.setLevel(before)


@pytest.mark.parametrize("variable, value, message", [
    ("PASSERELLE_INVOICE_FORMATS", "pdf,xls", "PASSERELLE_INVOICE_FORMATS='pdf,xls': unknown format(s) pdf, xls; "
                                              "expected a comma-separated list among facturx, cii, ubl"),
    ("PASSERELLE_LOG_LEVEL", "LOUD", "PASSERELLE_LOG_LEVEL='LOUD': expected one of DEBUG, INFO, WARNING, ERROR, CRITICAL"),
    ("PASSERELLE_PA_MATRICULE", "12345", "PASSERELLE_PA_MATRICULE='12345': expected the 4-character PPF matricule "
                                         "of the seller's platform"),
    ("PASSERELLE_REPORT_LANGUAGE", "de", "PASSERELLE_REPORT_LANGUAGE='de': expected one of fr, en"),
    ("PASSERELLE_CRASH_AT", "draft.numbered:0", "PASSERELLE_CRASH_AT='draft.numbered:0': expected <point>[:<n>], "
                                                "e.g. draft.numbered:2"),
])
def test_each_kind_of_bad_value_gives_one_line(clean_env, variable: str, value: str, message: str) -> None:
    clean_env.setenv(variable, value)
    with pytest.raises(SettingsError) as error:
        settings()
    assert str(error.value) == message and "\n" not in str(error.value)
    with pytest.raises(SettingsError, match="PASSERELLE_"):
        output_dir()  # any reader stops at the bad value, not only the one that uses it


def test_several_bad_values_are_reported_together_on_one_line(clean_env) -> None:
    clean_env.setenv("PASSERELLE_LOG_LEVEL", "LOUD")
    clean_env.setenv("PASSERELLE_INVOICE_FORMATS", "pdf")
    with pytest.raises(SettingsError) as error:
        settings()
    message = str(error.value)
    assert message.index("PASSERELLE_INVOICE_FORMATS='pdf'") < message.index("; PASSERELLE_LOG_LEVEL='LOUD'")
    assert "\n" not in message


def run_cli(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("PASSERELLE_") and k != "WAREHOUSE_URL"}
    return subprocess.run([sys.executable, "-m", "passerelle.settings", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, env={**base, "PYTHONPATH": f"{ROOT / 'plugins'}{os.pathsep}{ROOT}", **env})


def test_cli_checks_the_environment_and_masks_secrets() -> None:
    good = run_cli(WAREHOUSE_URL="postgresql://u:top-secret-pw@db/x", PASSERELLE_INVOICE_FORMATS="ubl")
    assert good.returncode == 0 and "top-secret-pw" not in good.stdout
    assert "PASSERELLE_INVOICE_FORMATS  ubl" in good.stdout and "WAREHOUSE_URL               ***" in good.stdout
    bad = run_cli(PASSERELLE_LOG_LEVEL="LOUD")
    assert bad.returncode == 2
    assert bad.stderr.strip() == ("invalid setting: PASSERELLE_LOG_LEVEL='LOUD': expected one of DEBUG, INFO, "
                                  "WARNING, ERROR, CRITICAL")


def test_markdown_reference_lists_every_setting_and_extra_and_is_in_the_configuration_page() -> None:
    from passerelle.connectors.registry import SOURCES

    result = run_cli("--markdown")
    assert result.returncode == 0
    for name in Settings.model_fields:
        assert f"| `{env_var(name)}` |" in result.stdout
    for spec in SOURCES.values():
        for name in spec.options.model_fields:
            assert f"| `{name}` |" in result.stdout
    assert result.stdout.strip() in (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8"), \
        "docs/configuration.md is stale: paste `python -m passerelle.settings --markdown`"
