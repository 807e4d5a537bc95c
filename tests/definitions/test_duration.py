from datetime import timedelta

import pytest

from skewless.definitions.duration import format_seconds, parse_seconds
from skewless.errors import DefinitionError


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("10m", 600), ("1h", 3600), ("24h", 86400), ("7d", 604800), ("30d", 2592000), ("1h30m", 5400), ("2w", 1209600), ("45s", 45)],
)
def test_parses_durations_as_written(text: str, seconds: int) -> None:
    assert parse_seconds(text, where="w") == seconds


def test_accepts_timedelta() -> None:
    assert parse_seconds(timedelta(minutes=10), where="w") == 600


@pytest.mark.parametrize("bad", ["10x", "", "h", "1.5h", "-1h", "0m", "ten minutes"])
def test_bad_duration_names_the_field_and_the_fix(bad: str) -> None:
    with pytest.raises(DefinitionError) as err:
        parse_seconds(bad, where="aggregation 'sum' of 'clicked': window")
    assert "aggregation 'sum' of 'clicked'" in str(err.value)
    assert "'10m'" in str(err.value)  # the hint shows a valid example


def test_sub_second_timedelta_is_refused() -> None:
    with pytest.raises(DefinitionError):
        parse_seconds(timedelta(milliseconds=1500), where="hop")


@pytest.mark.parametrize("seconds", [1, 59, 60, 3600, 5400, 86400, 90061, 30 * 86400])
def test_format_round_trips(seconds: int) -> None:
    assert parse_seconds(format_seconds(seconds), where="w") == seconds
