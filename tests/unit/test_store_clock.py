from __future__ import annotations

from datetime import UTC, datetime

from app.models import Store
from app.services.merchant.identity import local_time


def test_local_time_is_the_stores_clock_with_its_zone() -> None:
    amsterdam = Store(timezone="Europe/Amsterdam")
    assert local_time(amsterdam, datetime(2026, 12, 7, 16, 36, tzinfo=UTC)) == "2026-12-07 17:36 CET"
    assert local_time(amsterdam, datetime(2026, 7, 1, 12, 5, tzinfo=UTC)) == "2026-07-01 14:05 CEST"
    # ISO strings (the sync's JSON) and naive datetimes (SQLite) are UTC.
    assert local_time(amsterdam, "2026-12-07T16:36:18.597929+00:00") == "2026-12-07 17:36 CET"
    assert local_time(amsterdam, datetime(2026, 12, 7, 16, 36)) == "2026-12-07 17:36 CET"
    assert local_time(Store(timezone="America/New_York"), "2026-12-07T16:36:00+00:00") == "2026-12-07 11:36 EST"
    assert local_time(Store(timezone="UTC"), "2026-12-07T16:36:00+00:00") == "2026-12-07 16:36 UTC"
    assert local_time(Store(timezone="Not/AZone"), "2026-12-07T16:36:00+00:00") == "2026-12-07 16:36 UTC"
    assert local_time(amsterdam, None) == ""
