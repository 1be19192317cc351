"""Japanese dates as a resident registry keeps them: 和暦 (Japanese era calendar), 西暦 (Gregorian),
不詳日 (partly unknown dates) and 暦上日以外 (non-calendar dates that a 戸籍 may hold).

住民記録システム標準仕様書 1.1.8 / 1.1.9: dates must be real calendar days, except that 生年月日,
住民となった年月日, 住所を定めた年月日 and the dates of birth / death / disappearance must also accept
non-calendar days (e.g. 2月29日 of a common year) and unknown dates such as 「昭和40年頃」,
「昭和40年3月上旬」, 「年月日不詳」, 「昭和40年月日不詳」.

The era table (元号) lives in ``data/eras.yaml``: a new era is added by editing that file only.

Two days belong to two eras (明治45年7月30日 = 大正元年7月30日, 大正15年12月25日 = 昭和元年12月25日),
so the era is kept AS ENTERED (:attr:`JpDate.era`), never derived from the day.

Limitations (deliberate):
- dates before 1873-01-01 (明治5年12月2日 and earlier, 旧暦 lunisolar calendar) are converted by
  year offset only; 明治元年1月1日–1月24日 are refused because the table starts 明治 on 1868-01-25;
- the 不詳日 forms accepted are: 年頃, 年月頃, 年月日頃, 月上旬/中旬/下旬, 年月日不詳, 年月日不詳 after a
  year (「昭和40年月日不詳」) or after a month (「昭和40年3月日不詳」), and a bare year or year-month.
  The standard's other forms (推定…, 春, ranges 「…から…までの間」) are not parsed yet.
"""

from __future__ import annotations

import calendar
import datetime as dt
import functools
import itertools
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from moyai.platform.codes import datafiles

__all__ = [
    "QUALIFIERS",
    "Era",
    "JpDate",
    "JpDateError",
    "era_by_code",
    "era_by_key",
    "era_by_layout_code",
    "era_by_letter",
    "era_on",
    "eras",
    "format_wareki",
    "parse_date_query",
    "parse_jp_date",
    "wareki",
]

PACKAGE: Final = "moyai.platform.codes"

#: Qualifiers of a 不詳日: 頃 (about), 上旬/中旬/下旬 (first/middle/last third of a month),
#: 不詳 (the remaining parts are unknown).
QUALIFIERS: Final[tuple[str, ...]] = ("頃", "上旬", "中旬", "下旬", "不詳")
_THIRDS: Final[dict[str, tuple[int, int]]] = {"上旬": (1, 10), "中旬": (11, 20), "下旬": (21, 31)}
_FULLY_UNKNOWN: Final = "年月日不詳"

_Ymd = tuple[int, int, int]


class JpDateError(ValueError):
    """A date that cannot be accepted; ``message`` is the reason in Japanese, for staff."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


# --- eras ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Era:
    """One 元号 (era) of ``data/eras.yaml``."""

    key: str  # "heisei"
    kanji: str  # "平成"
    letter: str  # "H"
    code: int  # common era code 1 (明治) … 5 (令和)
    layout_code: str  # 2-digit code of the 中間標準レイアウト (UNCONFIRMED values)
    start: dt.date  # first day
    end: dt.date | None  # last day, None while current

    def gregorian_year(self, era_year: int) -> int:
        return self.start.year + era_year - 1

    def era_year(self, year: int) -> int:
        return year - self.start.year + 1

    def contains(self, d: dt.date) -> bool:
        return self.start <= d and (self.end is None or d <= self.end)


def _year_text(era_year: int) -> str:
    """元年 for the first year of an era, else the number."""
    return "元" if era_year == 1 else str(era_year)


def _ymd(d: dt.date) -> _Ymd:
    return (d.year, d.month, d.day)


def _era_from_entry(raw: Any, path: str, index: int) -> Era:
    where = f"{path}: entries[{index}]"
    if not isinstance(raw, dict):
        raise datafiles.DataFileError(f"{where} がマッピングではありません")
    for key, typ in (
        ("key", str),
        ("kanji", str),
        ("letter", str),
        ("code", int),
        ("layout_code", str),
        ("start", dt.date),
    ):
        if not isinstance(raw.get(key), typ) or isinstance(raw.get(key), bool):
            raise datafiles.DataFileError(f"{where}: {key} がないか型が正しくありません")
    end = raw.get("end")
    if end is not None and not isinstance(end, dt.date):
        raise datafiles.DataFileError(f"{where}: end は日付か null です")
    letter = str(raw["letter"])
    if len(letter) != 1 or not letter.isascii() or not letter.isalpha():
        raise datafiles.DataFileError(f"{where}: letter は英字1文字です")
    era = Era(
        key=raw["key"],
        kanji=raw["kanji"],
        letter=letter.upper(),
        code=raw["code"],
        layout_code=raw["layout_code"],
        start=raw["start"],
        end=end,
    )
    if era.end is not None and era.end < era.start:
        raise datafiles.DataFileError(f"{where}: end が start より前です")
    return era


@functools.cache
def eras() -> tuple[Era, ...]:
    """All eras, oldest first (read once from ``data/eras.yaml``)."""
    df = datafiles.load(PACKAGE, "eras")
    if df.kind != "era_table":
        raise datafiles.DataFileError(f"{df.path}: kind は era_table です")
    if not isinstance(df.entries, list) or not df.entries:
        raise datafiles.DataFileError(f"{df.path}: entries は空でないリストです")
    result = tuple(_era_from_entry(raw, df.path, i) for i, raw in enumerate(df.entries))
    for field in ("key", "kanji", "letter", "code", "layout_code"):
        values = [getattr(e, field) for e in result]
        if len(set(values)) != len(values):
            raise datafiles.DataFileError(f"{df.path}: {field} が重複しています")
    for prev, nxt in itertools.pairwise(result):
        if prev.end is None or not (prev.start < nxt.start <= prev.end + dt.timedelta(days=1)):
            raise datafiles.DataFileError(f"{df.path}: {prev.kanji} と {nxt.kanji} の期間が連続していません")
    return result


def era_by_key(key: str) -> Era:
    for era in eras():
        if era.key == key:
            return era
    raise JpDateError(f"元号 {key} は元号表にありません")


def era_by_letter(letter: str) -> Era:
    """Era by its letter (M, T, S, H, R), case-insensitive."""
    for era in eras():
        if era.letter == letter.upper():
            return era
    raise JpDateError(f"元号の略字 {letter} は元号表にありません")


def era_by_code(code: int) -> Era:
    """Era by its common numeric code (1 明治 … 5 令和)."""
    for era in eras():
        if era.code == code:
            return era
    raise JpDateError(f"元号コード {code} は元号表にありません")


def era_by_layout_code(code: str) -> Era:
    """Era by its 中間標準レイアウト code ("01" … "05", UNCONFIRMED values)."""
    for era in eras():
        if era.layout_code == code:
            return era
    raise JpDateError(f"元号コード {code} は元号表にありません")


def _era_by_kanji(kanji: str) -> Era:
    for era in eras():
        if era.kanji == kanji:
            return era
    raise JpDateError(f"元号 {kanji} は元号表にありません")


def _era_on_ymd(ymd: _Ymd) -> Era | None:
    """The era in effect on a (possibly non-calendar) day; on a shared day, the new era."""
    found: Era | None = None
    for era in eras():
        if _ymd(era.start) <= ymd:
            found = era
    if found is not None and found.end is not None and ymd > _ymd(found.end):
        return None
    return found


def era_on(d: dt.date) -> Era:
    """The era in effect on ``d`` (on 1912-07-30 and 1926-12-25, the era that starts that day)."""
    era = _era_on_ymd(_ymd(d))
    if era is None:
        raise JpDateError(f"{_seireki_ymd_text(d)}は明治より前のため和暦で表せません")
    return era


def wareki(d: dt.date, era_key: str | None = None) -> tuple[str, int]:
    """(era key, era year) of ``d``; with ``era_key``, in that era (which must contain ``d``)."""
    if era_key is None:
        era = era_on(d)
    else:
        era = era_by_key(era_key)
        if not era.contains(d):
            raise JpDateError(f"{_seireki_ymd_text(d)}は{era.kanji}の期間外です")
    return era.key, era.era_year(d.year)


def format_wareki(d: dt.date) -> str:
    """``d`` in 和暦, first year printed 元年: 令和元年5月1日."""
    era = era_on(d)
    return f"{era.kanji}{_year_text(era.era_year(d.year))}年{d.month}月{d.day}日"


def _seireki_ymd_text(d: dt.date) -> str:
    return f"{d.year}年{d.month}月{d.day}日"


# --- text rendering -----------------------------------------------------------------------------


def _render(year_text: str | None, month: int | None, day: int | None, q: str | None) -> str:
    """Canonical text: ``year_text`` is "平成2年" or "1990年" (None when the year is unknown)."""
    if year_text is None:
        return _FULLY_UNKNOWN
    if month is None:
        return year_text + {"頃": "頃", "不詳": "月日不詳"}.get(q or "", "")
    text = f"{year_text}{month}月"
    if day is None:
        return text + ("日不詳" if q == "不詳" else (q or ""))
    return f"{text}{day}日" + ("頃" if q == "頃" else "")


def _era_year_label(era: Era, era_year: int) -> str:
    return f"{era.kanji}{_year_text(era_year)}年"


def _era_start_text(era: Era) -> str:
    """「令和は元年5月1日から」."""
    s = era.start
    return f"{era.kanji}は{_year_text(era.era_year(s.year))}年{s.month}月{s.day}日から"


def _era_end_text(era: Era, end: dt.date) -> str:
    """「平成は31年4月30日まで」."""
    return f"{era.kanji}は{_year_text(era.era_year(end.year))}年{end.month}月{end.day}日まで"


def _is_calendar(year: int, month: int, day: int) -> bool:
    return 1 <= year <= 9999 and day <= calendar.monthrange(year, month)[1]


def _period(year: int, month: int | None, day: int | None, q: str | None) -> tuple[_Ymd, _Ymd]:
    """Earliest and latest (y, m, d) a partly known date may mean (day 31 as an upper bound)."""
    if month is None:
        return (year, 1, 1), (year, 12, 31)
    if day is None:
        lo, hi = _THIRDS.get(q or "", (1, 31))
        return (year, month, lo), (year, month, hi)
    return (year, month, day), (year, month, day)


def _era_range_error(era: Era, era_year: int, month: int | None, day: int | None, q: str | None) -> str | None:
    """Reason why the entered era date is outside its era, or None."""
    if era_year < 1:
        return f"{era.kanji}{era_year}年は存在しません"
    if era.end is not None and era_year > era.era_year(era.end.year):
        return f"{_era_year_label(era, era_year)}は存在しません（{_era_end_text(era, era.end)}）"
    lo, hi = _period(era.gregorian_year(era_year), month, day, q)
    shown = _render(_era_year_label(era, era_year), month, day, q)
    if hi < _ymd(era.start):
        return f"{shown}は存在しません（{_era_start_text(era)}）"
    if era.end is not None and lo > _ymd(era.end):
        return f"{shown}は存在しません（{_era_end_text(era, era.end)}）"
    return None


def _canonical_text(
    year: int | None,
    month: int | None,
    day: int | None,
    era: str | None,
    era_year: int | None,
    qualifier: str | None,
) -> str:
    if year is None:
        return _FULLY_UNKNOWN
    if era is not None and era_year is not None:
        return _render(_era_year_label(era_by_key(era), era_year), month, day, qualifier)
    return _render(f"{year}年", month, day, qualifier)


# --- the value object ---------------------------------------------------------------------------


def _opt_int(d: Mapping[str, object], key: str) -> int | None:
    v = d.get(key)
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, int):
        raise JpDateError(f"日付データの {key} が整数ではありません")
    return v


def _opt_str(d: Mapping[str, object], key: str) -> str | None:
    v = d.get(key)
    if v is None:
        return None
    if not isinstance(v, str):
        raise JpDateError(f"日付データの {key} が文字列ではありません")
    return v


@dataclass(frozen=True)
class JpDate:
    """A date as kept by the registry, possibly partly unknown or not on the calendar.

    Build one with :func:`parse_jp_date` or :meth:`of`; the constructor checks that every field
    agrees with the others (including that ``text`` is the canonical text).
    """

    text: str  # canonical display text as kept: "平成2年3月4日", "昭和40年頃", "1990年3月4日"
    year: int | None  # Gregorian year if known
    month: int | None
    day: int | None
    era: str | None  # era key AS ENTERED, None when entered in 西暦
    era_year: int | None
    qualifier: str | None  # None, 頃, 上旬, 中旬, 下旬, 不詳
    calendar_valid: bool  # False for a non-calendar day (2月30日) accepted on purpose

    def __post_init__(self) -> None:
        reason = self._inconsistency()
        if reason is not None:
            raise JpDateError(f"日付データが不整合です（{reason}）: {self.text}")

    def _inconsistency(self) -> str | None:
        q = self.qualifier
        if q is not None and q not in QUALIFIERS:
            return f"qualifier {q}"
        if self.year is None:
            if (self.month, self.day, self.era, self.era_year) != (None, None, None, None):
                return "年が不詳なのに月日または元号があります"
            if q != "不詳":
                return "年が不詳のときは qualifier が 不詳 です"
        if self.month is None and self.day is not None:
            return "月が不詳なのに日があります"
        if self.month is not None and not 1 <= self.month <= 12:
            return "月が範囲外です"
        if self.day is not None and not 1 <= self.day <= 31:
            return "日が範囲外です"
        if q in _THIRDS and (self.month is None or self.day is not None):
            return f"{q} は月まで分かり日が不詳のときだけです"
        if q == "不詳" and self.day is not None:
            return "日まで分かっているのに 不詳 です"
        if (self.era is None) != (self.era_year is None):
            return "era と era_year は両方あるか両方ないかです"
        expected_valid = (
            _is_calendar(self.year, self.month, self.day)
            if self.year is not None and self.month is not None and self.day is not None
            else True
        )
        if self.calendar_valid != expected_valid:
            return "calendar_valid が日付と合いません"
        if self.era is not None and self.era_year is not None:
            try:
                era = era_by_key(self.era)
            except JpDateError as exc:
                return exc.message
            if self.year != era.gregorian_year(self.era_year):
                return "year が元号の年と合いません"
            error = _era_range_error(era, self.era_year, self.month, self.day, q)
            if error is not None:
                return error
        if self.year is not None and not 1 <= self.year <= 9999:
            return "年が範囲外です"
        if self.text != self._canonical_text():
            return f"text は {self._canonical_text()} です"
        return None

    def _canonical_text(self) -> str:
        return _canonical_text(self.year, self.month, self.day, self.era, self.era_year, self.qualifier)

    @classmethod
    def of(
        cls,
        *,
        year: int | None,
        month: int | None = None,
        day: int | None = None,
        era: str | None = None,
        qualifier: str | None = None,
    ) -> JpDate:
        """Build from parts; with ``era`` the date is kept as entered in that era."""
        era_year = None
        if era is not None and year is not None:
            era_year = era_by_key(era).era_year(year)
        calendar_valid = (
            _is_calendar(year, month, day) if year is not None and month is not None and day is not None else True
        )
        return cls(
            text=_canonical_text(year, month, day, era, era_year, qualifier),
            year=year,
            month=month,
            day=day,
            era=era,
            era_year=era_year,
            qualifier=qualifier,
            calendar_valid=calendar_valid,
        )

    def is_exact(self) -> bool:
        """Year, month and day known, a calendar day, no qualifier."""
        return (
            self.year is not None
            and self.month is not None
            and self.day is not None
            and self.calendar_valid
            and self.qualifier is None
        )

    def to_date(self) -> dt.date | None:
        if not self.is_exact():
            return None
        assert self.year is not None and self.month is not None and self.day is not None
        return dt.date(self.year, self.month, self.day)

    def sort_key(self) -> str:
        """YYYY-MM-DD with 00 for unknown parts ("0000-00-00" when fully unknown); sorts by date."""
        return f"{self.year or 0:04d}-{self.month or 0:02d}-{self.day or 0:02d}"

    def to_json(self) -> dict[str, object]:
        return {
            "text": self.text,
            "year": self.year,
            "month": self.month,
            "day": self.day,
            "era": self.era,
            "era_year": self.era_year,
            "qualifier": self.qualifier,
            "calendar_valid": self.calendar_valid,
        }

    @classmethod
    def from_json(cls, d: Mapping[str, object]) -> JpDate:
        expected = {"text", "year", "month", "day", "era", "era_year", "qualifier", "calendar_valid"}
        if set(d) != expected:
            raise JpDateError(f"日付データの項目が正しくありません: {sorted(d)}")
        text = d["text"]
        valid = d["calendar_valid"]
        if not isinstance(text, str) or not isinstance(valid, bool):
            raise JpDateError("日付データの text または calendar_valid の型が正しくありません")
        return cls(
            text=text,
            year=_opt_int(d, "year"),
            month=_opt_int(d, "month"),
            day=_opt_int(d, "day"),
            era=_opt_str(d, "era"),
            era_year=_opt_int(d, "era_year"),
            qualifier=_opt_str(d, "qualifier"),
            calendar_valid=valid,
        )

    def wareki_text(self) -> str:
        """Display in 和暦: the entered era when there is one, else derived from the date.

        For a 西暦 date known only to the year or month, the era covering most of that period
        is used (1989年 → 平成元年).  A date before 明治 is shown in 西暦.
        """
        if self.year is None:
            return _FULLY_UNKNOWN
        if self.era is not None:
            return self.text
        era = self._derived_era()
        if era is None:
            return self.seireki_text()
        return _render(_era_year_label(era, era.era_year(self.year)), self.month, self.day, self.qualifier)

    def _derived_era(self) -> Era | None:
        assert self.year is not None
        if self.month is not None and self.day is not None:
            return _era_on_ymd((self.year, self.month, self.day))
        lo, hi = _period(self.year, self.month, None, None)
        first = dt.date(lo[0], lo[1], lo[2])
        last = dt.date(hi[0], hi[1], calendar.monthrange(hi[0], hi[1])[1])
        best: Era | None = None
        best_days = 0
        for era in eras():
            start = max(first, era.start)
            end = min(last, era.end) if era.end is not None else last
            days = (end - start).days + 1
            if days > best_days:
                best, best_days = era, days
        return best

    def seireki_text(self) -> str:
        """Display in 西暦: 1990年3月4日, 1965年頃, 年月日不詳."""
        if self.year is None:
            return _FULLY_UNKNOWN
        return _render(f"{self.year}年", self.month, self.day, self.qualifier)


# --- parsing ------------------------------------------------------------------------------------

_DASHES: Final = str.maketrans(dict.fromkeys("‐‑‒–—―−ー", "-"))


def _normalise(text: str) -> str:
    s = unicodedata.normalize("NFKC", text).translate(_DASHES)
    return "".join(s.split())


@functools.cache
def _patterns() -> tuple[re.Pattern[str], re.Pattern[str], re.Pattern[str]]:
    table = eras()
    kanji = "|".join(re.escape(e.kanji) for e in sorted(table, key=lambda e: -len(e.kanji)))
    letters = "".join(re.escape(e.letter) for e in table)
    era_part = rf"(?P<era>{kanji}|[{letters}])(?P<ey>元|\d{{1,3}})"
    kanji_form = re.compile(
        rf"(?:{era_part}|(?P<gy>\d{{4}}))年"
        r"(?:(?P<m>\d{1,2})月(?:(?P<d>\d{1,2})日)?)?"
        r"(?P<q>頃|上旬|中旬|下旬|月日不詳|日不詳)?",
        re.IGNORECASE | re.ASCII,
    )
    sep_form = re.compile(
        rf"(?:{era_part}|(?P<gy>\d{{4}}))"
        r"(?:(?P<sep>[./-])(?P<m>\d{1,2})(?:(?P=sep)(?P<d>\d{1,2}))?)?",
        re.IGNORECASE | re.ASCII,
    )
    compact_form = re.compile(r"(?P<gy>\d{4})(?P<m>\d{2})(?P<d>\d{2})", re.ASCII)
    return kanji_form, sep_form, compact_form


def _qualifier(raw: str | None, month: str | None, day: str | None) -> tuple[bool, str | None]:
    """(placement ok, qualifier) for the qualifier text found after a date."""
    if raw is None:
        return True, None
    if raw == "頃":
        return True, "頃"
    if raw == "月日不詳":
        return month is None, "不詳"
    # 日不詳, 上旬, 中旬, 下旬 follow a month without a day
    return month is not None and day is None, ("不詳" if raw == "日不詳" else raw)


def parse_jp_date(
    text: str,
    *,
    allow_fuzzy: bool = False,
    allow_non_calendar: bool = False,
    today: dt.date | None = None,
) -> JpDate:
    """Read a date typed in 和暦 or 西暦 (full-width characters and spaces tolerated).

    - ``allow_fuzzy``: accept 不詳日 (頃, 上旬/中旬/下旬, 不詳) and dates known to the year or
      month only;
    - ``allow_non_calendar``: accept a day that is not on the calendar (2月30日), kept with
      ``calendar_valid=False`` (month 1–12 and day 1–31 are still required);
    - ``today``: when given, a date that is surely later than ``today`` is refused.

    Raises :class:`JpDateError` with the reason in Japanese.
    """
    s = _normalise(text)
    if not s:
        raise JpDateError("日付が入力されていません")
    if s == _FULLY_UNKNOWN:
        if not allow_fuzzy:
            raise JpDateError(f"不詳日はこの項目では使えません: {text}")
        return JpDate(_FULLY_UNKNOWN, None, None, None, None, None, "不詳", True)

    match = None
    for pattern in _patterns():
        match = pattern.fullmatch(s)
        if match is not None:
            break
    if match is None:
        raise JpDateError(f"日付として読めません: {text}")
    groups = match.groupdict()
    era_token: str | None = groups.get("era")
    m_raw: str | None = groups.get("m")
    d_raw: str | None = groups.get("d")
    placement_ok, qualifier = _qualifier(groups.get("q"), m_raw, d_raw)
    if not placement_ok:
        raise JpDateError(f"日付として読めません: {text}")

    month = int(m_raw) if m_raw is not None else None
    day = int(d_raw) if d_raw is not None else None
    if month is not None and not 1 <= month <= 12:
        raise JpDateError(f"{month}月は存在しません（月は1から12まで）")
    if day is not None and not 1 <= day <= 31:
        raise JpDateError(f"{day}日は存在しません（日は1から31まで）")

    era: Era | None = None
    era_year: int | None = None
    if era_token is not None:
        era = _era_by_kanji(era_token) if len(era_token) > 1 else era_by_letter(era_token)
        ey_raw = groups["ey"]
        era_year = 1 if ey_raw == "元" else int(ey_raw)
        year_error = _era_range_error(era, era_year, None, None, None)
        if year_error is not None:
            raise JpDateError(year_error)
        year = era.gregorian_year(era_year)
    else:
        year = int(groups["gy"])
        if year < 1:
            raise JpDateError(f"{year}年は存在しません")

    if not allow_fuzzy:
        if qualifier is not None:
            raise JpDateError(f"不詳日はこの項目では使えません: {text}")
        if month is None or day is None:
            raise JpDateError(f"日付は年月日まで入力してください: {text}")

    calendar_day = month is None or day is None or _is_calendar(year, month, day)
    if not calendar_day and not allow_non_calendar:
        reason = f"{month}月{day}日は暦にない日付です"
        if month == 2 and day == 29:
            reason += f"（{year}年はうるう年ではありません）"
        raise JpDateError(reason)

    if era is not None and era_year is not None:
        error = _era_range_error(era, era_year, month, day, qualifier)
        if error is not None:
            raise JpDateError(error)

    if today is not None:
        earliest, _ = _period(year, month, day, qualifier)
        if earliest > _ymd(today):
            raise JpDateError(f"未来の日付は入力できません: {text}")

    return JpDate.of(
        year=year,
        month=month,
        day=day,
        era=era.key if era is not None else None,
        qualifier=qualifier,
    )


def parse_date_query(text: str) -> tuple[dt.date, dt.date]:
    """The inclusive date range a search input means: 平成2年 → that year (within 平成),
    H2.3 → that month, 昭和40年3月上旬 → 1st to 10th, an exact date → (d, d).

    Raises :class:`JpDateError` for input that is not a date, or not a date of its era.
    """
    jd = parse_jp_date(text, allow_fuzzy=True)
    if jd.year is None:
        raise JpDateError("年月日不詳では検索できません")
    lo, hi = _period(jd.year, jd.month, jd.day, jd.qualifier)
    first = dt.date(*lo)
    last = dt.date(hi[0], hi[1], min(hi[2], calendar.monthrange(hi[0], hi[1])[1]))
    if jd.era is not None:
        era = era_by_key(jd.era)
        first = max(first, era.start)
        if era.end is not None:
            last = min(last, era.end)
    return first, last
