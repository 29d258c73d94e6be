"""French e-reporting: Flux 10 reports to the PPF, their validation, the filing calendar and payment data."""
