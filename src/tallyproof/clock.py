"""The one place tallyproof reads the clock, so reproducible runs can pin it.

When ``SOURCE_DATE_EPOCH`` is set (the reproducible-builds convention), every timestamp
tallyproof writes is that instant, so two runs over the same inputs give identical bytes.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime


def utc_timestamp() -> str:
    """ISO-8601 UTC timestamp to the second: ``SOURCE_DATE_EPOCH`` if set, else now."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    moment = datetime.fromtimestamp(int(epoch), UTC) if epoch else datetime.now(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
