"""Data quality of the staging layer: Great Expectations suites, the quarantine and Data Docs.

Great Expectations reports usage analytics over the network unless told not to; the warehouse runs
offline, so analytics are switched off before any module of this package imports it. Its import
also logs every registration at INFO: quieted to warnings, before the import, to keep task logs legible.
"""

import logging
import os

os.environ["GX_ANALYTICS_ENABLED"] = "False"
logging.getLogger("great_expectations").setLevel(logging.WARNING)
