from datetime import timedelta

import pytest
from pydantic import ValidationError

from orchestrator.workflow import RetryPolicy


def test_backoff_grows_geometrically_and_is_capped() -> None:
    p = RetryPolicy(
        initial_interval=timedelta(seconds=1), backoff_coefficient=2.0, maximum_interval=timedelta(seconds=10)
    )
    delays = [p.delay_for_attempt(n) for n in range(1, 7)]
    assert delays == [timedelta(seconds=s) for s in (1, 2, 4, 8, 10, 10)]
    assert p.delay_for_attempt(10_000) == timedelta(seconds=10)  # no float overflow


def test_constant_backoff_with_coefficient_one() -> None:
    p = RetryPolicy(
        initial_interval=timedelta(milliseconds=250), backoff_coefficient=1.0, maximum_interval=timedelta(seconds=1)
    )
    assert {p.delay_for_attempt(n) for n in range(1, 20)} == {timedelta(milliseconds=250)}


def test_json_round_trip_and_list_input() -> None:
    p = RetryPolicy(maximum_attempts=5, non_retryable_error_types=["PaymentDeclined"])  # type: ignore[arg-type]  # lists are accepted at runtime
    assert p.non_retryable_error_types == ("PaymentDeclined",)
    data = p.to_json()
    assert data["initial_interval_ms"] == 1000 and data["maximum_attempts"] == 5
    assert RetryPolicy.from_json(data) == p
    assert RetryPolicy.from_json(RetryPolicy().to_json()).maximum_attempts is None  # unlimited


def test_retry_decisions() -> None:
    p = RetryPolicy(maximum_attempts=3, non_retryable_error_types=("Declined",))
    assert p.is_retryable("Timeout", True)
    assert not p.is_retryable("Declined", True)
    assert not p.is_retryable("Timeout", False)
    assert not p.attempts_exhausted(2) and p.attempts_exhausted(3)
    assert not RetryPolicy().attempts_exhausted(10**6)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"backoff_coefficient": 0.5},
        {"maximum_attempts": 0},
        {"initial_interval": timedelta(seconds=5), "maximum_interval": timedelta(seconds=1)},
        {"unknown_field": 1},
    ],
)
def test_invalid_policies_are_rejected(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        RetryPolicy(**kwargs)  # type: ignore[arg-type]


def test_policy_is_frozen_and_hashable() -> None:
    p = RetryPolicy()
    with pytest.raises(ValidationError):
        p.maximum_attempts = 3
    assert hash(p) == hash(RetryPolicy())
    with pytest.raises(ValueError):
        p.delay_for_attempt(0)
