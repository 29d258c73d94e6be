"""Payments received, read from the books and matched to the invoices Passerelle issued."""
