"""Access-log analyses an auditor needs (標準仕様書 10.2-l).

- access at night or on a holiday (Japanese public holidays from the ``holidays`` package,
  weekends, and the year-end closure 12/29–1/3), per staff member;
- failed log-ins and log-ins per user (認証ログ);
- mass searches: a staff member whose searches named more than a threshold of residents in one hour;
- who accessed a given resident: :func:`moyai.platform.audit.services.entries_for_resident`.

Thresholds are parameters of the 団体 (``audit_night_start``, ``audit_night_end``,
``audit_mass_search_per_hour``) with the consortium's defaults, else the values below.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections import Counter
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

import holidays
from django.db.models import Count, Sum
from django.db.models.functions import TruncHour

from moyai.platform.identity.models import Membership
from moyai.platform.tenancy.scope import current_tenant_code
from moyai.platform.tenancy.services import parameter

from .models import AccessLog, SecurityLog

JST = ZoneInfo("Asia/Tokyo")
DEFAULTS = {"audit_night_start": 22, "audit_night_end": 6, "audit_mass_search_per_hour": 500}


def _param(key: str) -> int:
    try:
        return int(parameter(key))
    except KeyError:
        return int(DEFAULTS[key])


@functools.cache
def _holidays(year: int) -> holidays.HolidayBase:
    return holidays.Japan(years=year)


def is_closed_day(day: dt.date) -> bool:
    """閉庁日: weekend, national holiday, or the year-end/new-year closure (12/29–1/3)."""
    if day.weekday() >= 5 or day in _holidays(day.year):
        return True
    return (day.month == 12 and day.day >= 29) or (day.month == 1 and day.day <= 3)


@dataclass
class Analysis:
    start: dt.datetime
    end: dt.datetime
    off_hours: dict[str, int] = field(default_factory=dict)  # actor → accesses at night / on closed days
    failed_logins: dict[str, int] = field(default_factory=dict)  # username → failures
    logins: dict[str, int] = field(default_factory=dict)  # username → log-ins
    mass_searches: list[tuple[str, dt.datetime, int]] = field(default_factory=list)  # actor, hour, residents
    denied: dict[str, int] = field(default_factory=dict)  # actor → refused attempts


def analyse(start: dt.datetime, end: dt.datetime) -> Analysis:
    """Analyses of the active 団体's access log between two moments."""
    night_start, night_end = _param("audit_night_start"), _param("audit_night_end")
    out = Analysis(start, end)
    rows = AccessLog.objects.filter(at__gte=start, at__lt=end)
    off: Counter[str] = Counter()
    for actor, at in rows.values_list("actor", "at").iterator():
        local = at.astimezone(JST)
        if local.hour >= night_start or local.hour < night_end or is_closed_day(local.date()):
            off[actor] += 1
    out.off_hours = dict(off.most_common())
    out.denied = dict(rows.filter(outcome="denied").values_list("actor").annotate(n=Count("id")).order_by("-n"))
    limit = _param("audit_mass_search_per_hour")
    per_hour = (rows.filter(operation="resident.search").annotate(hour=TruncHour("at", tzinfo=JST))
                .values("actor", "hour").annotate(n=Sum("subject_count")).filter(n__gt=limit).order_by("-n"))
    out.mass_searches = [(r["actor"], r["hour"], int(r["n"])) for r in per_hour]
    # 認証ログ is global: an auditor sees only the staff of their own 団体.
    staff = Membership.objects.filter(tenant_id=current_tenant_code()).values("user__username")
    sec = SecurityLog.objects.filter(at__gte=start, at__lt=end, username__in=staff)
    out.failed_logins = dict(sec.filter(kind="login_failed").values_list("username").annotate(n=Count("id"))
                             .order_by("-n"))
    out.logins = dict(sec.filter(kind="login").values_list("username").annotate(n=Count("id")).order_by("-n"))
    return out
