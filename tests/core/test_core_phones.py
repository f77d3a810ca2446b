"""Tests of gocardless_core.phones: E.164 or nothing."""

import logging

import phonenumbers
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gocardless_core.phones import to_e164


@pytest.mark.parametrize(
    ("number", "country", "expected"),
    [
        ("06 12 34 56 78", "FR", "+33612345678"),
        ("06.12.34.56.78", "fr", "+33612345678"),
        ("+33 6 12 34 56 78", None, "+33612345678"),
        ("+33 6 12 34 56 78", "GB", "+33612345678"),
        ("0033 6 12 34 56 78", "FR", "+33612345678"),
        ("020 7946 0018", "GB", "+442079460018"),
        ("+64 4 817 9999", None, "+6448179999"),
        ("(201) 555-0123", "US", "+12015550123"),
        ("0412 345 678", "AU", "+61412345678"),
    ],
)
def test_valid_numbers_become_e164(number, country, expected):
    assert to_e164(number, country) == expected


@pytest.mark.parametrize("empty", [None, "", "   ", False])
def test_empty_values_give_none_silently(empty, caplog):
    with caplog.at_level(logging.WARNING):
        assert to_e164(empty, "FR") is None
    assert not caplog.records


@pytest.mark.parametrize(
    ("number", "country"),
    [
        ("not a number", "FR"),
        ("0612345678", None),  # national number without a country
        ("12", "FR"),
        ("+33 1", None),
        ("06 12 34 56 78", "ZZ"),
        ("+1 555 0100", None),
        ("06 12 34 56 78 90 12 34", "FR"),
    ],
)
def test_invalid_numbers_give_none_with_a_warning(number, country, caplog):
    with caplog.at_level(logging.WARNING, logger="gocardless_core.phones"):
        assert to_e164(number, country) is None
    assert len(caplog.records) == 1
    assert caplog.records[0].levelno == logging.WARNING
    assert number not in caplog.text  # no personal data in logs


@given(st.text(max_size=30), st.sampled_from([None, "", "FR", "GB", "US", "de", "ZZ"]))
def test_never_raises_and_returns_e164_or_none(number, country):
    result = to_e164(number, country)
    if result is not None:
        assert result.startswith("+") and result[1:].isdigit()
        assert phonenumbers.is_valid_number(phonenumbers.parse(result))
