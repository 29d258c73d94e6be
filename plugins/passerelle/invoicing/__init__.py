"""Invoicing: the issuing company's configuration, billing rules, invoice marts and documents."""
