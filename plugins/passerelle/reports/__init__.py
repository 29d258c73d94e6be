"""Compliance reports: the readiness mart, the data behind the report views, charts and the HTML report.

The reports themselves live in the warehouse (``marts.customer_readiness`` and the views of migration
0006) so BI tools and this package read the same figures; this package rebuilds the readiness table
(:mod:`readiness`), reads one period of every report (:mod:`data`), draws the charts (:mod:`charts`)
and writes one self-contained HTML file per period (:mod:`html`).
"""
