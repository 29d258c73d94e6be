"""Compliance outputs built on the invoice marts: e-reporting transmissions, lifecycle statuses, reports."""
