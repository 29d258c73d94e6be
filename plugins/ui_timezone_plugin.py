"""Airflow's plugin loader scans only this folder's top level: the UI's default time zone is registered here."""

from passerelle.orchestration.ui_timezone import UiTimezonePlugin

__all__ = ["UiTimezonePlugin"]
