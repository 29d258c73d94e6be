"""The error that turns a validation task red, naming every critical rule that failed."""

from __future__ import annotations

from dataclasses import dataclass

from passerelle.errors import PasserelleError


@dataclass(frozen=True)
class CriticalFailure:
    table: str
    rule: str
    detail: str


class CriticalValidationError(PasserelleError):
    """A table-level rule of severity ``critical`` failed (or a rule could not be evaluated).

    Raised after the results, the quarantine and the run row are committed, so the failure is on
    record in ``quality.validation_runs`` / ``quality.validation_results`` when the task fails.
    """

    def __init__(self, failures: list[CriticalFailure]) -> None:
        self.failures = failures
        listing = "; ".join(f"{f.table}: {f.rule} ({f.detail})" for f in failures)
        super().__init__(f"{len(failures)} critical data-quality failure(s): {listing}")
