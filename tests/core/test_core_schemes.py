"""Tests of gocardless_core.schemes: one table of schemes, currencies, countries."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gocardless_core import schemes
from gocardless_core.errors import GoCardlessCoreError, SchemeError

EXPECTED_METHODS = {
    "sepa_core": "sepa_direct_debit",
    "bacs": "bacs_direct_debit",
    "becs": "becs_direct_debit",
    "ach": "ach_direct_debit",
    "pad": "pre_authorized_debit",
    "autogiro": "autogiro",
    "betalingsservice": "betalingsservice",
    "becs_nz": "becs_nz",
}
EXPECTED_CURRENCIES = {
    "sepa_core": "EUR",
    "bacs": "GBP",
    "becs": "AUD",
    "ach": "USD",
    "pad": "CAD",
    "autogiro": "SEK",
    "betalingsservice": "DKK",
    "becs_nz": "NZD",
}
EUROZONE_AND_SEPA = set(
    "AT BE HR CY EE FI FR DE GR IE IT LV LT LU MT MC NL PT SM SK SI ES IS DK SE GB CH NO LI".split()
)


def test_table_holds_the_eight_direct_debit_schemes():
    assert {code: s.payment_method_code for code, s in schemes.SCHEMES.items()} == EXPECTED_METHODS
    assert {code: s.currency for code, s in schemes.SCHEMES.items()} == EXPECTED_CURRENCIES
    assert schemes.SCHEMES["sepa_core"].countries == EUROZONE_AND_SEPA
    assert schemes.SCHEMES["ach"].countries == {"US", "PR"}
    assert schemes.SCHEMES["bacs"].countries == {"GB"}


def test_table_is_consistent():
    assert schemes.SUPPORTED_CURRENCIES == {"AUD", "CAD", "DKK", "EUR", "GBP", "NZD", "SEK", "USD"}
    currencies = [s.currency for s in schemes.SCHEMES.values()]
    methods = [s.payment_method_code for s in schemes.SCHEMES.values()]
    assert len(set(currencies)) == len(currencies), "one scheme per currency"
    assert len(set(methods)) == len(methods), "one scheme per Odoo payment method"
    for code, scheme in schemes.SCHEMES.items():
        assert scheme.code == code
        assert scheme.currency in schemes.SUPPORTED_CURRENCIES
        assert scheme.label
        assert scheme.countries
        assert all(len(c) == 2 and c.isupper() for c in scheme.countries)
        assert scheme.reference_max_length is None or scheme.reference_max_length > 0
        # round trips through the helpers
        assert schemes.scheme_for(scheme.currency) == code
        assert schemes.scheme_from_payment_method_code(scheme.payment_method_code) == code
        assert schemes.payment_method_code(code) == scheme.payment_method_code
        assert schemes.currency_for_payment_method(scheme.payment_method_code) == scheme.currency
        assert set(schemes.countries_for_payment_method(scheme.payment_method_code)) == set(
            scheme.countries
        )
        for country in scheme.countries:
            assert schemes.scheme_for(scheme.currency, country) == code
            schemes.check_scheme(code, scheme.currency, country)


def test_reference_lengths():
    lengths = {code: s.reference_max_length for code, s in schemes.SCHEMES.items()}
    assert lengths == {
        "sepa_core": 140, "bacs": 10, "ach": 10, "becs": 30, "becs_nz": 12, "pad": None,
        "autogiro": 11, "betalingsservice": 30,
    }  # fmt: skip


@pytest.mark.parametrize(
    ("currency", "country", "expected"),
    [
        ("EUR", "FR", "sepa_core"),
        ("eur", "de", "sepa_core"),
        ("EUR", " gb ", "sepa_core"),
        ("EUR", None, "sepa_core"),
        ("EUR", "", "sepa_core"),
        ("EUR", False, "sepa_core"),
        ("GBP", "GB", "bacs"),
        ("USD", "US", "ach"),
        ("USD", "PR", "ach"),
        ("AUD", "AU", "becs"),
        ("NZD", "NZ", "becs_nz"),
        ("CAD", "CA", "pad"),
        ("SEK", "SE", "autogiro"),
        ("DKK", "DK", "betalingsservice"),
    ],
)
def test_scheme_for(currency, country, expected):
    assert schemes.scheme_for(currency, country) == expected


@pytest.mark.parametrize(
    ("currency", "country"),
    [("EUR", "US"), ("GBP", "FR"), ("USD", "CA"), ("SEK", "DK"), ("AUD", "NZ"), ("CAD", "US")],
)
def test_scheme_for_refuses_wrong_country_naming_currency_and_country(currency, country):
    with pytest.raises(SchemeError) as info:
        schemes.scheme_for(currency, country)
    assert currency in str(info.value)
    assert country in str(info.value)


@pytest.mark.parametrize("currency", ["JPY", "CHF", "", None, "XXX"])
def test_scheme_for_refuses_unsupported_currency(currency):
    with pytest.raises(SchemeError) as info:
        schemes.scheme_for(currency, "FR")
    assert "FR" in str(info.value)
    if currency and currency.strip():
        assert currency in str(info.value)


def test_scheme_error_is_value_error():
    assert issubclass(SchemeError, ValueError)
    assert issubclass(SchemeError, GoCardlessCoreError)


def test_check_scheme_refusals():
    schemes.check_scheme("bacs", "gbp", None)
    with pytest.raises(SchemeError):
        schemes.check_scheme("bacs", "EUR", "GB")
    with pytest.raises(SchemeError):
        schemes.check_scheme("bacs", "GBP", "FR")
    with pytest.raises(SchemeError):
        schemes.check_scheme("faster_payments", "GBP", "GB")
    with pytest.raises(SchemeError):
        schemes.check_scheme(None, "GBP", "GB")


def test_payment_method_helpers_refuse_unknown_codes():
    for function in (
        schemes.scheme_from_payment_method_code,
        schemes.countries_for_payment_method,
        schemes.currency_for_payment_method,
    ):
        with pytest.raises(SchemeError):
            function("card")
        with pytest.raises(SchemeError):
            function(None)
    with pytest.raises(SchemeError):
        schemes.payment_method_code("sepa")


def test_countries_for_payment_method_is_sorted():
    countries = schemes.countries_for_payment_method("sepa_direct_debit")
    assert list(countries) == sorted(countries)
    assert isinstance(countries, tuple)


@given(
    st.sampled_from(sorted(schemes.SUPPORTED_CURRENCIES)),
    st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=2, max_size=2),
)
def test_scheme_for_accepts_exactly_the_table(currency, country):
    scheme = schemes.SCHEMES[[c for c, s in schemes.SCHEMES.items() if s.currency == currency][0]]
    if country in scheme.countries:
        assert schemes.scheme_for(currency, country) == scheme.code
    else:
        with pytest.raises(SchemeError):
            schemes.scheme_for(currency, country)


def test_collectable_schemes_of_a_creditor():
    assert schemes.collectable_schemes(["bacs", "sepa_core"]) == ("bacs", "sepa_core")
    assert schemes.collectable_schemes(["sepa", "SEPA_CORE ", "faster_payments"]) == ("sepa_core",)
    assert schemes.collectable_schemes(["pay_to", "sepa_credit_transfer", None, 7, {}]) == ()
    assert schemes.collectable_schemes(None) == ()
    assert schemes.collectable_schemes(["ach", "becs_nz", "autogiro"]) == (
        "ach",
        "autogiro",
        "becs_nz",
    )
