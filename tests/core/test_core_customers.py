"""Tests of gocardless_core.customers: customer and prefilled_customer bodies."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gocardless_core.customers import SUPPORTED_LANGUAGES, customer_payload, prefilled_customer
from gocardless_core.errors import GoCardlessCoreError

PERSON = {
    "name": "Jeanne Marie Dupont",
    "is_company": False,
    "company_name": "ACME SAS",
    "email": " jeanne@example.com ",
    "street": "1 rue de la Paix",
    "street2": "Bâtiment B",
    "city": "Paris",
    "zip": "75002",
    "state_code": False,
    "country_code": "fr",
    "lang": "fr_FR",
    "phone": "01 23 45 67 89",
    "mobile": "06 12 34 56 78",
}


def test_person_payload():
    assert customer_payload(PERSON) == {
        "given_name": "Jeanne Marie",
        "family_name": "Dupont",
        "email": "jeanne@example.com",
        "address_line1": "1 rue de la Paix",
        "address_line2": "Bâtiment B",
        "city": "Paris",
        "postal_code": "75002",
        "country_code": "FR",
        "language": "fr",
        "phone_number": "+33612345678",
    }


def test_prefilled_customer_is_the_same_without_phone():
    prefilled = prefilled_customer(PERSON)
    expected = customer_payload(PERSON)
    del expected["phone_number"]
    assert prefilled == expected


def test_company_payload():
    body = customer_payload(
        {**PERSON, "name": "ACME SAS", "is_company": True, "company_name": False}
    )
    assert body["company_name"] == "ACME SAS"
    assert "given_name" not in body and "family_name" not in body


def test_us_customer_gets_region_and_english():
    body = customer_payload({
        "name": "John Smith", "email": "john@example.com", "street": "1 Main St",
        "city": "Austin", "zip": "78701", "state_code": "TX", "country_code": "US",
        "lang": "en_US", "phone": "(512) 555-0100", "mobile": False,
    })  # fmt: skip
    assert body["region"] == "TX"
    assert body["language"] == "en"
    assert body["phone_number"] == "+15125550100"


def test_single_word_name_fills_both_names():
    body = customer_payload({"name": "Cher", "email": "cher@example.com"})
    assert body == {"given_name": "Cher", "family_name": "Cher", "email": "cher@example.com"}


def test_extra_whitespace_in_names_is_collapsed():
    body = customer_payload({"name": "  Ada   Lovelace  "})
    assert (body["given_name"], body["family_name"]) == ("Ada", "Lovelace")


def test_person_without_name_falls_back_to_company_name():
    body = customer_payload({"name": "", "company_name": "ACME", "email": False})
    assert body == {"company_name": "ACME"}


@pytest.mark.parametrize(
    ("lang", "expected"),
    [
        ("fr_FR", "fr"),
        ("nb_NO", "nb"),
        ("sl_SI", "sl"),
        ("sv_SE", "sv"),
        ("pt_BR", "pt"),
        ("da_DK", "da"),
        ("de_CH", "de"),
        ("nl_BE", "nl"),
        ("it_IT", "it"),
        ("es_419", "es"),
        ("en", "en"),
        ("sr@latin", None),
        ("pl_PL", None),
        ("ja_JP", None),
        ("", None),
        (False, None),
    ],
)
def test_language(lang, expected):
    body = customer_payload({"name": "A B", "lang": lang})
    assert body.get("language") == expected
    assert expected is None or expected in SUPPORTED_LANGUAGES


def test_phone_falls_back_to_phone_then_is_omitted():
    base = {"name": "A B", "country_code": "FR"}
    assert (
        customer_payload({**base, "mobile": "garbage", "phone": "01 23 45 67 89"})["phone_number"]
        == "+33123456789"
    )
    assert "phone_number" not in customer_payload({**base, "mobile": "bad", "phone": "bad"})
    assert "phone_number" not in customer_payload(base)


def test_email_only_is_enough():
    assert customer_payload({"email": "x@example.com"}) == {"email": "x@example.com"}


@pytest.mark.parametrize(
    "partner",
    [
        {},
        {"name": "", "email": ""},
        {"name": False, "email": False, "city": "Paris"},
        {"name": "   ", "is_company": True},
    ],
)
def test_no_name_and_no_email_is_refused(partner):
    with pytest.raises(GoCardlessCoreError):
        customer_payload(partner)
    with pytest.raises(GoCardlessCoreError):
        prefilled_customer(partner)


values = st.one_of(st.none(), st.just(False), st.text(max_size=20))


@given(
    st.fixed_dictionaries(
        {"email": st.text(min_size=1, max_size=20).filter(str.strip)},
        optional={
            key: values
            for key in (
                "name",
                "company_name",
                "street",
                "street2",
                "city",
                "zip",
                "state_code",
                "country_code",
                "lang",
                "phone",
                "mobile",
            )
        }
        | {"is_company": st.booleans()},
    )
)
def test_bodies_never_hold_empty_values(partner):
    body = customer_payload(partner)
    assert all(isinstance(v, str) and v and v == v.strip() for v in body.values())
    assert "phone_number" not in prefilled_customer(partner)
    assert ("given_name" in body) == ("family_name" in body)
    assert not ("company_name" in body and "given_name" in body)
