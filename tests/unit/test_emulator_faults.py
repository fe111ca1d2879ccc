"""The EKIOSK_EMULATOR_FAULTS parser and the fault layer's pure parts (no emulator running)."""

from __future__ import annotations

import pytest

from chalicelib.runtime.emulator_faults import PROFILES, Call, FaultState, Scripted, parse_faults


def test_the_aws_profile():
    assert parse_faults("aws") == {
        "transaction_conflict": 0.05, "throttle": 0.02, "internal_error": 0.01, "index_lag_ms": 500,
        "sqs_empty_receive": 0.3, "sqs_duplicate": 0.02,
    }  # fmt: skip


def test_later_entries_win_and_blanks_are_ignored():
    assert parse_faults(" aws , throttle=0.5,seed=7,") == {**PROFILES["aws"], "throttle": 0.5, "seed": 7}
    assert parse_faults("") == parse_faults(None) == {}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("throttle", "expected name=value"),
        ("throttle=1.5", "between 0 and 1"),
        ("throttle=often", "not a probability"),
        ("index_lag_ms=0.5", "not an integer"),
        ("seed=-1", "negative"),
        ("latency=3", "unknown fault"),
    ],
)
def test_bad_settings_are_refused(text, message):
    with pytest.raises(ValueError, match=message):
        parse_faults(text)


def test_the_seed_makes_draws_reproducible():
    def draws(seed):
        state = FaultState(parse_faults(f"throttle=0.3,transaction_conflict=0.3,seed={seed}"))
        call = Call("dynamodb", "PutItem", {"TableName": "t"})
        return [getattr(state.choose(call), "fault", None) for _ in range(200)]

    assert draws(3) == draws(3) != draws(4)
    assert {"throttle", "transaction_conflict", None} == set(draws(3))


def test_a_random_seed_is_chosen_and_reported():
    state = FaultState(parse_faults("throttle=0.1"))
    assert state.seed_was_random and str(state.seed) in state.describe()
    assert state.status()["config"]["seed"] == state.seed


def test_scripted_faults_match_service_operation_and_table_and_are_used_up():
    state = FaultState({})
    state.script.append(Scripted.from_json({"service": "dynamodb", "operation": "PutItem", "fault": "throttle",
                                            "table": "orders", "times": 2}))  # fmt: skip
    assert state.choose(Call("dynamodb", "PutItem", {"TableName": "customers"})) is None
    assert state.choose(Call("dynamodb", "UpdateItem", {"TableName": "orders"})) is None
    assert state.choose(Call("dynamodb", "PutItem", {"TableName": "orders"})).fault == "throttle"
    assert state.choose(Call("dynamodb", "PutItem", {"TableName": "orders"})).fault == "throttle"
    assert state.choose(Call("dynamodb", "PutItem", {"TableName": "orders"})) is None
    assert state.script == []


def test_faults_do_not_touch_control_plane_calls():
    state = FaultState(parse_faults("throttle=1,internal_error=1,transaction_conflict=1"))
    assert state.choose(Call("dynamodb", "CreateTable", {"TableName": "t"})) is None
    assert state.choose(Call("sqs", "CreateQueue", {"QueueName": "q"})) is None
    assert state.choose(Call("sqs", "SendMessage", {"QueueUrl": "http://x/1/q"})).fault == "internal_error"


def test_a_batch_splits_into_a_part_to_run_and_a_part_left_unprocessed():
    state = FaultState(parse_faults("seed=1"))
    items = [{"PutRequest": {"Item": {"pk": {"S": str(i)}}}} for i in range(5)]
    run, rest = state.split_batch(Call("dynamodb", "BatchWriteItem", {"RequestItems": {"t": items}}))
    assert run["t"] and rest["t"] and sorted(map(str, run["t"] + rest["t"])) == sorted(map(str, items))
    assert state.split_batch(Call("dynamodb", "BatchWriteItem", {"RequestItems": {"t": items[:1]}})) is None
