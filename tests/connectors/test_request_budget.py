"""The request budget shared through a file by the processes of one machine (a virtual clock, a real file)."""

from __future__ import annotations

from pathlib import Path

import pytest

from passerelle.connectors.request_budget import RequestBudget


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_a_second_process_waits_for_the_calls_of_the_first(tmp_path: Path) -> None:
    clock = Clock()
    first = RequestBudget("portal", 3, 120.0, tmp_path, clock=clock, sleep=clock.sleep)
    second = RequestBudget("portal", 3, 120.0, tmp_path, clock=clock, sleep=clock.sleep)  # another task's
    for _ in range(3):
        assert first.acquire() == 0
        clock.now += 10
    waited = second.acquire()  # the window holds the first task's 3 calls: wait until the oldest leaves it
    assert waited == pytest.approx(120.0 - 30 + 0.01) and clock.slept == [waited]
    other = RequestBudget("another portal", 3, 120.0, tmp_path, clock=clock, sleep=clock.sleep)
    assert other.acquire() == 0  # budgets are per account
    assert list(tmp_path.iterdir()) and all(p.stat().st_mode & 0o077 == 0 for p in tmp_path.iterdir())


def test_a_torn_file_restarts_the_budget_and_bad_settings_are_refused(tmp_path: Path) -> None:
    clock = Clock()
    budget = RequestBudget("portal", 2, 60.0, tmp_path, clock=clock, sleep=clock.sleep)
    budget.path.write_text("[1000.0, 10")
    assert budget.acquire() == 0 and budget.acquire() == 0 and budget.acquire() > 0
    with pytest.raises(ValueError, match="at least one request"):
        RequestBudget("portal", 0, 60.0, tmp_path)


def test_a_directory_open_to_others_is_refused(tmp_path: Path) -> None:
    shared = tmp_path / "budgets"
    shared.mkdir(mode=0o777)
    shared.chmod(0o777)  # made beforehand, writable by anyone (the umask would have narrowed mkdir's mode)
    with pytest.raises(PermissionError, match=r"closed to others \(mode 700\).*drwxrwxrwx"):
        RequestBudget("zoho-projects:portal", 5, 60.0, directory=shared).acquire()
    assert list(shared.iterdir()) == []  # nothing was written there

    private = tmp_path / "own"
    assert RequestBudget("zoho-projects:portal", 5, 60.0, directory=private).acquire() == 0.0
    assert private.stat().st_mode & 0o777 == 0o700
