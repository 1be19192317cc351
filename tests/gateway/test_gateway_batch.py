"""Fixed-length Shift_JIS and CSV batch files: layouts as data, padding, counts, checksum, clear errors."""

from __future__ import annotations

import datetime as dt

import pytest

from moyai.gateway.adapters import batch
from moyai.gateway.adapters.batch import BatchAdapter, read_requests, read_responses, write_requests
from moyai.gateway.adapters.csvbatch import read_csv, write_csv
from moyai.gateway.adapters.fixed import read_fixed, write_fixed
from moyai.gateway.adapters.layouts import RecordFormatError, layout, layouts
from moyai.gateway.domain.log import LogEntry
from moyai.gateway.models import GatewayLogEntry
from tests.gateway.exchange_kit import Kit

NOW = dt.datetime(2026, 5, 1, 1, 0, tzinfo=dt.UTC)


def _atena_row(**over: object) -> dict[str, object]:
    row: dict[str, object] = {
        "seq": 7, "change": "update", "effective_date": "2026-04-30", "atena_no": "0000000019", "household_no": "0000000027", "status": "resident",
        "resident_kind": "japanese", "name": "髙橋　一郎", "kana": "タカハシ　イチロウ", "birth_date": "1970-05-05",
        "sex": "1", "relationship": "世帯主", "postal_code": "7450045", "address": "山口県周南市岐山通一丁目1番地",
        "katagaki": None, "removed_on": None, "individual_number": None, "support_measure": None, "gaiji": 0}
    row.update(over)
    return row


def _atena_header() -> dict[str, object]:
    return {"tenant": "352152", "consumer": "tax", "kind": "diff", "after_seq": 0, "upto_seq": 7,
            "created": "2026-05-01T01:00:00.000000Z"}


def test_every_shipped_layout_loads_and_fits_its_record_length() -> None:
    ids = {(i, v) for i, v in layouts()}
    assert ids == {("exchange_request", 1), ("exchange_response", 1), ("atena_linkage", 2)}
    assert layout("atena_linkage").record_length == 700


def test_fixed_records_are_padded_by_type_and_counted_in_shift_jis_bytes() -> None:
    lay = layout("atena_linkage")
    row = _atena_row(katagaki="ハイツ１０１", removed_on="")
    row["removed_on"] = None
    data = write_fixed(lay, _atena_header(), [row])
    lines = data.split(b"\r\n")
    assert lines[-1] == b"" and all(len(line) == 700 for line in lines[:-1])
    head, rec, trailer = lines[0], lines[1], lines[2]
    assert head[:1] == b"1" and rec[:1] == b"2" and trailer[:1] == b"9"
    assert rec[1:13] == b"000000000007"  # N: zero-filled on the left
    name = rec[1 + 12 + 30 + 10 + 16 + 16 + 10 + 10:][:100]
    assert name == "髙橋　一郎".encode("cp932") + b" " * (100 - 10)  # X: 10 bytes in cp932, spaces on the right
    rel_at = 1 + 12 + 30 + 10 + 16 + 16 + 10 + 10 + 100 + 100 + 10 + 2
    assert rec[rel_at:rel_at + 40] == "世帯主".encode("cp932") + "\u3000".encode("cp932") * 17  # K: 全角 space
    assert trailer[1:9] == b"00000001" and trailer[9:17] == b"00000001"
    _, header, rows = read_fixed(data, "atena_linkage")
    assert rows == [{**row, "seq": "000000000007", "gaiji": "0"}]
    assert header["tenant"] == "352152"


def test_what_shift_jis_cannot_carry_is_substituted_and_flagged_in_the_atena_layout() -> None:
    data = write_fixed(layout("atena_linkage"), _atena_header(), [_atena_row(name="𠮷田　太郎")])
    _, _, [row] = read_fixed(data, "atena_linkage")
    assert (row["name"], row["gaiji"]) == ("〓田　太郎", "1")


def test_what_shift_jis_cannot_carry_is_refused_with_the_character_and_field_named() -> None:
    lay = layout("exchange_request")
    row = {"message_id": "m1", "requester": "kenpo-midori", "provider": "352152", "affair": "HI−01",
           "subject": "k0001.aaaa", "nonce": "0" * 32, "timestamp": "2026-05-01T01:00:00.000000Z",
           "items": ["resident_record.name"], "body": {}}
    with pytest.raises(RecordFormatError) as err:
        write_fixed(lay, {"sender": "kenpo-midori", "batch_id": "b1", "created": "2026-05-01T01:00:00.000000Z"}, [row])
    assert err.value.row == 1 and err.value.field == "affair"
    assert "U+2212" in err.value.message and "Shift_JIS" in err.value.message


def test_a_k_field_refuses_half_width_characters_and_a_value_too_long_is_named() -> None:
    lay = layout("atena_linkage")
    with pytest.raises(RecordFormatError, match="全角文字だけの項目に半角文字"):
        write_fixed(lay, _atena_header(), [_atena_row(relationship="ｺ")])
    with pytest.raises(RecordFormatError, match=r"項目 address（X 200バイト）: 202バイトで長すぎます") as err:
        write_fixed(lay, _atena_header(), [_atena_row(address="岐" * 101)])
    assert err.value.row == 1


@pytest.mark.parametrize("damage", ["truncate", "count", "checksum", "length"])
def test_a_damaged_fixed_file_is_refused_whole_naming_the_line(damage: str) -> None:
    lay = layout("atena_linkage")
    data = write_fixed(lay, _atena_header(), [_atena_row(seq=1), _atena_row(seq=2, name="山田　花子")])
    lines = data.split(b"\r\n")
    if damage == "truncate":
        lines = lines[:2] + lines[3:]
        match = "件数"
    elif damage == "count":
        lines[3] = lines[3][:1] + b"00000003" + lines[3][9:]
        match = "件数"
    elif damage == "checksum":
        lines[2] = lines[2].replace("花子".encode("cp932"), "華子".encode("cp932"))
        match = "チェックサム"
    else:
        lines[1] = lines[1][:-1]
        match = "レコード長"
    with pytest.raises(RecordFormatError, match=match):
        read_fixed(b"\r\n".join(lines), "atena_linkage")


def test_long_json_fields_continue_in_continuation_records() -> None:
    lay = layout("exchange_response")
    items = {"resident_record.move_history": [{"kind": "move_in", "address": "山口県周南市岐山通" + "一" * 50}] * 20}
    row: dict[str, object] = {"message_id": "m1", "in_reply_to": None, "requester": "kenpo-midori", "provider": "352152",
           "affair": None, "subject": None, "status": "provided", "code": "provided", "retryable": 0,
           "nonce": "0" * 32, "timestamp": "2026-05-01T01:00:00.000000Z", "reason_ja": "根拠 LB-0001",
           "items": items, "not_held": []}
    data = write_fixed(lay, {"sender": "gateway-a", "batch_id": "b1", "created": "2026-05-01T01:00:00.000000Z"},
                       [row, row])
    kinds = [line[:1] for line in data.split(b"\r\n")[:-1]]
    assert kinds.count(b"2") == 2 and kinds.count(b"3") >= 10
    _, _, rows = read_fixed(data, "exchange_response")
    assert rows[1]["items"] == items and rows[0]["in_reply_to"] is None


def test_csv_uses_the_same_layout_and_checks_counts_and_checksum() -> None:
    lay = layout("atena_linkage")
    data = write_csv(lay, _atena_header(), [_atena_row(name="𠮷田　太郎")])
    assert data.decode("utf-8").splitlines()[1].startswith("2,7,update,2026-04-30,0000000019")
    _, _, [row] = read_csv(data, "atena_linkage")
    assert (row["name"], row["gaiji"]) == ("𠮷田　太郎", "0")  # UTF-8 CSV carries it
    with pytest.raises(RecordFormatError, match="チェックサム"):
        read_csv(data.replace("太郎".encode(), "次郎".encode()), "atena_linkage")


@pytest.mark.django_db
@pytest.mark.parametrize("fmt", ["fixed", "csv"])
def test_a_request_file_is_answered_row_by_row_and_each_row_logged(kit: Kit, fmt: str) -> None:
    adapter = BatchAdapter(kit.service, "gateway-a", fmt=fmt)
    good = kit.request(items=("resident_record.name",))
    refused = kit.request(items=("public_assistance",))
    other = kit.request(requester="pension-01", affair="NP-01", items=("resident_record.name",))
    data = write_requests([good, refused, other], "kenpo-midori", fmt=fmt, created=kit.clock.now)
    header, parsed = read_requests(data, fmt=fmt)
    assert parsed == [good, refused, other] and header["sender"] == "kenpo-midori"
    out, replies = adapter.process(data, "kenpo-midori")
    _, responses = read_responses(out, fmt=fmt)
    assert [(r.status, r.code, r.in_reply_to) for r in responses] == [
        ("provided", "provided", good.message_id), ("refused", "item_not_allowed", refused.message_id),
        ("refused", "requester_mismatch", other.message_id)]
    assert responses[0].items == {"resident_record.name": {
        "family_name": "山田", "given_name": "一郎", "family_kana": "ヤマダ", "given_kana": "イチロウ",
        "alias": None, "name_alpha": None}}
    entries = [LogEntry.from_canonical(t.encode()) for t in
               GatewayLogEntry.objects.order_by("seq").values_list("canonical", flat=True)]
    assert [e.outcome for e in entries] == ["provided", "refused", "refused"]
    import hashlib

    assert entries[0].response_digest == hashlib.sha256(replies[0].body).hexdigest()
    assert replies[0].body in out


@pytest.mark.django_db
def test_a_file_from_another_channel_is_refused_whole(kit: Kit) -> None:
    data = write_requests([kit.request()], "kenpo-midori", created=kit.clock.now)
    with pytest.raises(RecordFormatError, match="この経路の団体 pension-01 ではありません"):
        BatchAdapter(kit.service, "gateway-a").process(data, "pension-01")
    assert GatewayLogEntry.objects.count() == 0


def test_unknown_format_is_refused() -> None:
    with pytest.raises(RecordFormatError, match="fixed"):
        batch.write_requests([], "x", fmt="xml")
