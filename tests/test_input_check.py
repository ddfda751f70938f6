"""One input check for every write route: nothing reaches the database driver or the broker's
msgpack encoder in a shape they refuse, and nothing odd is a 500.

The rules (domain/input_check.py): no NUL characters in any string or key; integers within
signed 64 bits; numbers finite; digits parsed from text are ASCII; a body that is not UTF-8 is
`invalid_json`; an event's attrs and metadata stay within 16 KiB of JSON after every merge.
"""

from __future__ import annotations

import json
import math

import httpx
import msgspec
import pytest

from eventgate.domain import fields as rules
from eventgate.domain.errors import DomainError
from eventgate.domain.input_check import (
    INT64_MAX,
    INT64_MIN,
    check_fields,
    check_value,
    is_decimal,
    refuse_larger_than,
    whole_number,
)
from eventgate.domain.lifecycle import LifecycleCommand, apply_operation, new_event
from eventgate.domain.times import parse_unix_time
from tests.conftest import PASSWORD
from tests.helpers import body_form, error_code, lifecycle_body

FOUR_HUNDRED_ONE_DIGITS = int("9" * 401)
# Superscript two, Arabic-Indic "10", Devanagari "1713750000": int() and float() take them all.
UNICODE_DIGITS = ("\u00b2", "\u0661\u0660", "\u0967\u096d\u0967\u0969\u096d\u096b\u0966\u0966\u0966\u0966")
UNICODE_DIGIT_IDS = ["superscript", "arabic-indic", "devanagari"]
KIB = 1024


# -- the producer routes of seeds 000 and 001, side by side --------------------------------------


class Producer:
    """Create/update through one seed's route; `fields` are the business fields of SPEC §2."""

    def __init__(self, seed: str, client, channel: str) -> None:
        self.seed, self.client, self.channel = seed, client, channel

    def create(self, **fields):
        if self.seed == "001":
            return self.client.post("/event/create", json=body_form(self.channel, **fields))
        return self.client.post(f"/v1/channel/{self.channel}/event/create",
                                json={"password": PASSWORD, "event_type": "door_open", **fields})

    def update(self, event_id: str, **fields):
        if self.seed == "001":
            return self.client.post("/event/update", json=lifecycle_body(self.channel, event_id, **fields))
        return self.client.post(f"/v1/channel/{self.channel}/event/update",
                                json={"password": PASSWORD, "event_id": event_id, **fields})

    def created(self, **fields) -> str:
        reply = self.create(**fields)
        assert reply.status_code == 200, reply.text
        body = reply.json()
        return body["data"]["event_id"] if self.seed == "001" else body["event_id"]


@pytest.fixture(params=["000", "001"])
def producer(request, client, channel) -> Producer:
    return Producer(request.param, client, channel)




@pytest.fixture
def reader(server, client):
    key = server.create_key(("events:read",))

    def read(event_id: str) -> dict:
        reply = client.get(f"/events/{event_id}", headers={"X-Api-Key": key})
        assert reply.status_code == 200, reply.text
        return reply.json()["data"]

    return read


SEED_002_EVENT = {"title": "User event", "subtitle": "Triggered by peter@parker.com", "topics": ["users"]}


def seed_002_event(api) -> str:
    reply = api.post("/events", json=SEED_002_EVENT)
    assert reply.status_code == 201, reply.text
    return reply.json()["id"]


def refused(reply, code: str) -> bool:
    return reply.status_code == 400 and error_code(reply) == code


# -- rule 1: no NUL characters, in any string value or object key -------------------------------


@pytest.mark.parametrize("field, value", [
    ("title", "Door\u0000open"), ("message", "a\u0000"), ("status", "on\u0000going"), ("tags", ["a\u0000b"]),
    ("attrs", {"k\u0000": 1}), ("attrs", {"k": "v\u0000"}), ("attrs", {"host": {"n\u0000ame": "db"}}),
    ("attrs", {"host": {"name": "d\u0000b"}}), ("metadata", {"region": "eu\u0000"}), ("op_id", "op\u0000"),
], ids=["title", "message", "status", "tags", "attrs-key", "attrs-value", "attrs-inner-key", "attrs-inner-value",
        "metadata", "op_id"])
def test_nul_in_a_create_is_400_naming_the_field(producer, field, value):
    assert refused(producer.create(**{field: value}), f"{field}_invalid")


def test_nul_in_an_update_is_400_naming_the_field(producer):
    event_id = producer.created()
    assert refused(producer.update(event_id, message="still\u0000lagging"), "message_invalid")


def test_nul_in_the_password_is_400(producer):
    assert refused(producer.create(password="correct-horse\u0000battery"), "password_invalid")


def test_a_refused_nul_records_nothing(producer):
    """Once SQLite stored such a title cut at the NUL; now the op_id stays free for a clean retry."""
    producer.create(title="Door\u0000open", op_id="nul-title")
    assert producer.create(title="Door", op_id="nul-title").status_code == 200


@pytest.mark.parametrize("field, value", [("title", "a\u0000b"), ("context", {"k": {"k\u0000": 1}})],
                         ids=["title", "context"])
def test_nul_in_a_seed_002_put_is_400(api, field, value):
    event_id = seed_002_event(api)
    assert refused(api.put(f"/events/{event_id}", json={field: value}), f"{field}_invalid")


def test_nul_in_a_seed_002_form_context_is_400(api):
    reply = api.post("/events", content='title=t&subtitle=s&topics=t&context={"k":"\\u0000"}',
                     headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert refused(reply, "context_invalid")


def test_nul_in_a_dashboard_timeline_id_is_404(server, client):
    key = server.create_key(("events:read",))
    reply = client.get("/dashboard/events/a%00b/timeline", headers={"X-Api-Key": key})
    assert reply.status_code == 404 and error_code(reply) == "event_not_found"


# -- rule 2: integers within signed 64 bits ------------------------------------------------------


@pytest.mark.parametrize("field, value", [
    ("attrs", {"n": 2**64}), ("attrs", {"n": INT64_MAX + 1}), ("attrs", {"n": INT64_MIN - 1}),
    ("attrs", {"host": {"n": 2**64}}), ("metadata", {"shard": 2**64}), ("metadata", {"shard": -2**70}),
], ids=["attrs-2^64", "attrs-int64-max+1", "attrs-int64-min-1", "attrs-inner", "metadata-2^64", "metadata-2^70"])
def test_integer_outside_64_bits_is_400(producer, field, value):
    assert refused(producer.create(**{field: value}), f"{field}_out_of_range")


def test_an_integer_of_5000_digits_is_400(client, channel):
    raw = json.dumps(body_form(channel))[:-1] + ', "attrs": {"n": 1' + "0" * 5000 + '}}'
    reply = client.post("/event/create", content=raw.encode(), headers={"Content-Type": "application/json"})
    assert refused(reply, "attrs_out_of_range")


def test_integers_at_the_64_bit_bounds_are_kept(producer, reader):
    event_id = producer.created(attrs={"max": INT64_MAX, "min": INT64_MIN}, metadata={"max": INT64_MAX})
    event = reader(event_id)
    assert event["attrs"] == {"max": INT64_MAX, "min": INT64_MIN}
    assert event["metadata"] == {"max": INT64_MAX}


@pytest.mark.parametrize("field", ["event_time", "started_at"])
def test_a_time_of_401_digits_is_400(producer, field):
    assert refused(producer.create(**{field: FOUR_HUNDRED_ONE_DIGITS}), f"{field}_out_of_range")


def test_an_ended_at_of_401_digits_is_400(producer):
    event_id = producer.created()
    reply = producer.client.post(
        "/event/close" if producer.seed == "001" else f"/v1/channel/{producer.channel}/event/close",
        json={**(lifecycle_body(producer.channel, event_id) if producer.seed == "001"
                 else {"password": PASSWORD, "event_id": event_id}), "ended_at": FOUR_HUNDRED_ONE_DIGITS})
    assert refused(reply, "ended_at_out_of_range")


def test_an_event_time_beyond_64_bits_is_400(producer):
    assert refused(producer.create(event_time=2**64), "event_time_out_of_range")


@pytest.mark.parametrize("method", ["post", "put"])
def test_seed_002_context_integer_outside_64_bits_is_400(api, method):
    path = "/events" if method == "post" else f"/events/{seed_002_event(api)}"
    reply = getattr(api, method)(path, json={**SEED_002_EVENT, "context": {"n": 2**64}})
    assert refused(reply, "context_out_of_range")


def test_seed_002_form_context_integer_outside_64_bits_is_400(api):
    reply = api.post("/events", content=f'title=t&subtitle=s&topics=t&context={{"n":{2**64}}}',
                     headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert refused(reply, "context_out_of_range")


def test_seed_002_form_context_nested_too_deeply_is_400(api):
    context = "%5B" * 5000 + "%5D" * 5000
    reply = api.post("/events", content=f"title=t&subtitle=s&topics=t&context={context}",
                     headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert refused(reply, "context_invalid")


def test_admin_key_expiry_of_401_digits_is_400(server, workspace):
    admin = server.client(headers={"Authorization": f"Bearer {server.create_key(('admin',), workspace_id=workspace)}"})
    reply = admin.post("/admin/keys", json={"user_id": "bot", "expires_at": FOUR_HUNDRED_ONE_DIGITS})
    assert reply.status_code == 400 and error_code(reply).startswith("expires_at_"), reply.text


# -- rule 3: numbers are finite --------------------------------------------------------------------


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_json_literals_are_invalid_json(client, channel, literal):
    raw = json.dumps(body_form(channel))[:-1] + f', "attrs": {{"x": {literal}}}}}'
    reply = client.post("/event/create", content=raw.encode(), headers={"Content-Type": "application/json"})
    assert refused(reply, "invalid_json")


def test_a_number_beyond_double_range_is_400(client, channel):
    raw = json.dumps(body_form(channel))[:-1] + ', "attrs": {"x": 1e400}}'
    reply = client.post("/event/create", content=raw.encode(), headers={"Content-Type": "application/json"})
    assert refused(reply, "attrs_invalid")


@pytest.mark.parametrize("text", ["NaN", "Infinity", "inf", "1e400"])
def test_a_non_finite_event_time_string_is_400(producer, text):
    assert refused(producer.create(event_time=text), "event_time_invalid")


# -- rule 4: digits parsed from text are ASCII ---------------------------------------------------


@pytest.mark.parametrize("text", [*UNICODE_DIGITS, "1_713_750_000", "0x10", "1e9", "+1713750000", "17137 50000"],
                         ids=[*UNICODE_DIGIT_IDS, "underscores", "hex", "exponent", "plus", "inner-space"])
def test_an_event_time_string_of_anything_but_ascii_digits_is_400(producer, text):
    assert refused(producer.create(event_time=text), "event_time_invalid")


@pytest.mark.parametrize("text", ["1713750000", " 1713750000 ", "1713750000.5", "1713750000123"])
def test_an_event_time_string_of_ascii_digits_is_accepted(producer, text):
    assert producer.create(event_time=text).status_code == 200


@pytest.mark.parametrize("text", UNICODE_DIGITS, ids=UNICODE_DIGIT_IDS)
def test_a_listing_limit_in_unicode_digits_is_400(api, text):
    assert refused(api.get("/events", params={"limit": text}), "limit_invalid")


@pytest.mark.parametrize("name", ["since", "until"])
@pytest.mark.parametrize("text", UNICODE_DIGITS, ids=UNICODE_DIGIT_IDS)
def test_a_listing_time_in_unicode_digits_is_400(api, name, text):
    assert refused(api.get("/events", params={name: text}), f"{name}_invalid")


@pytest.mark.parametrize("name", ["page", "per_page"])
def test_a_type_registry_page_in_unicode_digits_is_400(api, name):
    assert refused(api.get("/api/b/v2/events", params={name: "\u0661"}), f"{name}_invalid")


# -- rule 5: a body that is not UTF-8 is invalid JSON, on every route that reads JSON -------------


INVALID_UTF8_STRING = b'{"%s":"\xff"}'
INVALID_UTF8_KEY = b'{"%s":{"\xff":1}}'


def _json_routes(channel: str, event_id: str, type_id: int):
    return [
        ("POST", "/event/create", None, INVALID_UTF8_STRING % b"title"),
        ("POST", "/event/update", None, INVALID_UTF8_STRING % b"message"),
        ("POST", "/event/close", None, INVALID_UTF8_KEY % b"attrs"),
        ("POST", f"/v1/channel/{channel}/event/create", None, INVALID_UTF8_STRING % b"title"),
        ("POST", f"/v1/channel/{channel}/event/update", None, INVALID_UTF8_KEY % b"metadata"),
        ("POST", "/events", "key", INVALID_UTF8_STRING % b"title"),
        ("POST", "/events", "key", INVALID_UTF8_KEY % b"context"),
        ("PUT", f"/events/{event_id}", "key", INVALID_UTF8_STRING % b"subtitle"),
        ("POST", "/api/b/v2/events", "key", INVALID_UTF8_STRING % b"name"),
        ("PUT", f"/api/b/v2/events/{type_id}", "key", INVALID_UTF8_STRING % b"code"),
        ("POST", "/admin/keys", "admin", INVALID_UTF8_STRING % b"user_id"),
        ("POST", "/admin/channels", "admin", INVALID_UTF8_STRING % b"name"),
        ("PATCH", f"/admin/channels/{channel}", "admin", INVALID_UTF8_STRING % b"name"),
        ("POST", f"/admin/channels/{channel}/rotate-password", "admin", INVALID_UTF8_STRING % b"password"),
    ]


def test_invalid_utf8_in_a_json_string_is_invalid_json_on_every_route(server, workspace, api):
    key = server.create_key(workspace_id=workspace)
    admin_key = server.create_key(("admin",), workspace_id=workspace)
    channel = server.create_channel(workspace_id=workspace)
    event_id = seed_002_event(api)
    type_id = api.post("/api/b/v2/events", json={"name": "Door", "code": "door"}).json()["id"]
    client = server.client()
    wrong = []
    for method, path, auth, raw in _json_routes(channel, event_id, type_id):
        headers = {"Content-Type": "application/json"}
        if auth:
            headers["Authorization"] = f"Bearer {admin_key if auth == 'admin' else key}"
        try:
            reply = client.request(method, path, content=raw, headers=headers)
        except httpx.TransportError as error:  # a server that failed mid-reply
            wrong.append((method, path, raw, repr(error)))
            continue
        if not refused(reply, "invalid_json"):
            wrong.append((method, path, raw, reply.status_code, reply.text[:200]))
    assert not wrong, "\n".join(map(repr, wrong))


def test_invalid_utf8_in_a_seed_002_body_sent_as_a_form_is_invalid_json(api):
    reply = api.post("/events", content=b'{"title":"\xff","subtitle":"s","topics":[]}',
                     headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert refused(reply, "invalid_json")


def test_invalid_utf8_in_a_type_registry_body_sent_as_a_form_is_invalid_json(api):
    reply = api.post("/api/b/v2/events", content=b'{"name":"\xff","code":"door"}',
                     headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert refused(reply, "invalid_json")


def test_invalid_utf8_in_an_unsubscribe_body_is_400_invalid_json(server, client):
    key = server.create_key(("subscribe",))
    reply = client.post("/api/v1/ws/unsubscribe", content=b'{"client_id":"\xff","event_types":[]}',
                        headers={"Content-Type": "application/json", "Authorization": f"Bearer {key}"})
    assert reply.status_code == 400, reply.text
    assert reply.json()["stack"][0]["error"] == "invalid_json"


# -- rule 6: attrs and metadata stay within 16 KiB of JSON after every merge ----------------------


def test_attrs_over_16_kib_on_create_is_400(producer):
    assert refused(producer.create(attrs={"blob": "x" * (17 * KIB)}), "attrs_too_large")


def test_attrs_just_under_16_kib_are_accepted(producer, reader):
    event_id = producer.created(attrs={"blob": "x" * (16 * KIB - 20)})
    assert len(reader(event_id)["attrs"]["blob"]) == 16 * KIB - 20


def test_attrs_patches_that_grow_past_16_kib_are_400_and_change_nothing(producer, reader):
    event_id = producer.created(attrs={"a": "x" * (10 * KIB)})
    assert refused(producer.update(event_id, attrs={"b": "y" * (10 * KIB)}), "attrs_too_large")
    assert list(reader(event_id)["attrs"]) == ["a"]


def test_a_patch_that_removes_as_much_as_it_adds_stays_within_the_cap(producer, reader):
    event_id = producer.created(attrs={"a": "x" * (10 * KIB)})
    reply = producer.update(event_id, attrs={"a": None, "b": "y" * (10 * KIB)})
    assert reply.status_code == 200, reply.text
    assert list(reader(event_id)["attrs"]) == ["b"]


def test_metadata_over_16_kib_is_400(producer):
    metadata = {f"key{i}": "v" * 500 for i in range(40)}
    assert refused(producer.create(metadata=metadata), "metadata_too_large")


@pytest.mark.parametrize("method", ["post", "put"])
def test_seed_002_context_over_16_kib_is_400(api, method):
    path = "/events" if method == "post" else f"/events/{seed_002_event(api)}"
    reply = getattr(api, method)(path, json={**SEED_002_EVENT, "context": {"blob": "x" * (17 * KIB)}})
    assert refused(reply, "context_too_large")


def test_seed_002_context_just_under_16_kib_is_accepted(api):
    reply = api.post("/events", json={**SEED_002_EVENT, "context": {"blob": "x" * (16 * KIB - 20)}})
    assert reply.status_code == 201, reply.text



# -- the rules themselves, without HTTP (domain/input_check.py) -----------------------------------


def refusal_code(call, *args) -> str | None:
    try:
        call(*args)
    except DomainError as error:
        assert error.status == 400
        return error.code
    return None


@pytest.mark.parametrize("value", [
    "a\x00", {"a\x00": 1}, {"a": "\x00"}, ["ok", "\x00"], {"a": {"b": ["\x00"]}},
], ids=["string", "key", "value", "list-item", "deep"])
def test_check_value_refuses_nul_anywhere(value):
    assert refusal_code(check_value, value, "attrs") == "attrs_invalid"


@pytest.mark.parametrize("value", [INT64_MAX + 1, INT64_MIN - 1, {"n": 2**64}, [10**400]],
                         ids=["max+1", "min-1", "in-object", "in-list"])
def test_check_value_refuses_integers_outside_64_bits(value):
    assert refusal_code(check_value, value, "metadata") == "metadata_out_of_range"


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, {"x": [math.nan]}])
def test_check_value_refuses_numbers_that_are_not_finite(value):
    assert refusal_code(check_value, value, "context") == "context_invalid"


def test_what_check_value_accepts_msgpack_and_json_can_carry():
    value = {"max": INT64_MAX, "min": INT64_MIN, "f": 1.5e308, "s": "é \u2028", "t": True, "n": None,
             "o": {"l": [1, "a"]}}
    check_value(value, "attrs")
    assert msgspec.msgpack.decode(msgspec.msgpack.encode(value)) == value
    assert msgspec.json.decode(msgspec.json.encode(value)) == value


def test_check_value_walks_deep_nesting_without_recursion():
    deep: list = []
    for _ in range(100_000):
        deep = [deep]
    check_value(deep, "attrs")


def test_check_fields_names_the_field_that_holds_the_value():
    assert refusal_code(check_fields, {"title": "ok", "attrs": {"host": {"n": 2**64}}}) == "attrs_out_of_range"


def test_check_value_refuses_types_json_cannot_hold_as_a_bug():
    with pytest.raises(TypeError):
        check_value({"b": b"bytes"}, "attrs")


@pytest.mark.parametrize("text, expected", [("0", 0), ("500", 500), ("007", 7), ("9" * 18, int("9" * 18))])
def test_whole_number_reads_ascii_digits(text, expected):
    assert whole_number(text) == expected


@pytest.mark.parametrize("text", [*UNICODE_DIGITS, "", " 7", "7 ", "-1", "+1", "1_0", "1.0", "9" * 19, "9" * 5000],
                         ids=[*UNICODE_DIGIT_IDS, "empty", "lead-space", "trail-space", "minus", "plus",
                              "underscore", "fraction", "19-digits", "5000-digits"])
def test_whole_number_refuses_anything_else(text):
    assert whole_number(text) is None


@pytest.mark.parametrize("text, decimal", [("1713750000", True), ("1713750000.25", True), ("1.", False),
                                           (".5", False), ("1e9", False), ("inf", False), ("\u0661", False)])
def test_is_decimal(text, decimal):
    assert is_decimal(text) is decimal


def test_refuse_larger_than_measures_the_json_encoding():
    value = {"blob": "x" * (KIB - len('{"blob":""}'))}
    refuse_larger_than(value, "attrs", KIB)
    value["blob"] += "x"
    assert refusal_code(refuse_larger_than, value, "attrs", KIB) == "attrs_too_large"


@pytest.mark.parametrize("value", [10**401, 2**63, "1_713_750_000", "\u0661\u0667\u0661\u0663", "1e9", " ", math.inf])
def test_parse_unix_time_refuses_what_float_would_take(value):
    assert refusal_code(parse_unix_time, value, "event_time") == "event_time_invalid"


# -- the attrs cap where attrs change (domain/fields.py, domain/lifecycle.py) ---------------------


def _command(kind: str, **overrides) -> LifecycleCommand:
    return LifecycleCommand(kind=kind, channel_id="c", op_id="op", event_id="e", event_time=0, **overrides)


def test_merge_attrs_refuses_a_result_over_the_cap():
    current = {"a": "x" * (10 * KIB)}
    assert refusal_code(rules.merge_attrs, current, {"b": "y" * (10 * KIB)}) == "attrs_too_large"
    assert rules.merge_attrs(current, {"a": None, "b": "y" * (10 * KIB)}) == {"b": "y" * (10 * KIB)}


def test_apply_operation_refuses_patches_that_accumulate_past_the_cap():
    event = new_event(_command("create", attrs_patch={"a": "x" * (10 * KIB)}), workspace_id="w", event_id="e",
                      received_at=0)
    update = _command("update", attrs_patch={"b": "y" * (10 * KIB)})
    with pytest.raises(DomainError) as refused_update:
        apply_operation(event, update, received_at=1)
    assert refused_update.value.code == "attrs_too_large"


def test_new_event_refuses_replaced_attrs_over_the_cap():
    command = _command("create", attrs_replace={"blob": "x" * (17 * KIB)})
    with pytest.raises(DomainError) as refused_create:
        new_event(command, workspace_id="w", event_id="e", received_at=0)
    assert refused_create.value.code == "attrs_too_large"


def test_metadata_over_the_cap_is_refused_when_validated():
    metadata = {f"key{i}": "v" * 500 for i in range(40)}
    assert refusal_code(rules.metadata, metadata) == "metadata_too_large"


@pytest.mark.parametrize("op_id", ["op-1\n", "op-1\r\n"])
def test_an_op_id_ending_in_a_newline_is_400(client, channel, op_id):
    """`$` in a pattern also matches before a final newline; identifiers must end where they end."""
    reply = client.post("/event/create", json=body_form(channel, op_id=op_id))
    assert reply.status_code == 400
    assert error_code(reply) == "op_id_invalid"


def test_a_channel_id_ending_in_a_newline_is_not_a_channel_id():
    from eventgate.ids import is_channel_id, new_channel_id

    channel_id = new_channel_id()
    assert is_channel_id(channel_id)
    assert not is_channel_id(channel_id + "\n")
