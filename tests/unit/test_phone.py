"""Phone numbers: E.164 normalization, Kenyan by default, and the 400 cases."""

import phonenumbers
import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.domain.errors import InvalidInput
from chalicelib.domain.phone import InvalidPhoneNumber, normalize_phone


@pytest.mark.parametrize(
    "raw",
    [
        "0712345678",
        "0712 345 678",
        "0712-345-678",
        "712345678",
        "254712345678",
        "+254712345678",
        "+254 712-345-678",
        " +254 (712) 345 678 ",
    ],
)
def test_kenyan_numbers_in_every_common_spelling(raw):
    assert normalize_phone(raw) == "+254712345678"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("+44 7400 123456", "+447400123456"),
        ("+1 650-253-0000", "+16502530000"),
        ("0112 345 678", "+254112345678"),  # the newer Kenyan mobile ranges
    ],
)
def test_international_numbers_keep_their_country(raw, expected):
    assert normalize_phone(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "", "   ", None, 712345678, ["0712345678"], "0712", "12345", "not a number", "0712-CALL-ME",
        "0800-FLOWERS", "+", "++254712345678", "+254712345678999", "0712345678 ext. 5", "0712345678" * 4,
        "0712\u0663345678",  # a non-ASCII digit
    ],
)
def test_empty_or_invalid_is_a_400(raw):
    with pytest.raises(InvalidPhoneNumber) as caught:
        normalize_phone(raw)
    assert isinstance(caught.value, InvalidInput)
    assert caught.value.status == 400
    assert caught.value.code == "invalid_phone_number"
    assert "phone_number" in caught.value.details


@given(st.text(max_size=40))
def test_never_anything_but_e164_or_a_400(raw):
    try:
        result = normalize_phone(raw)
    except InvalidPhoneNumber:
        return
    assert result.startswith("+") and result[1:].isdigit() and 8 <= len(result) <= 16
    assert normalize_phone(result) == result  # normalizing is idempotent


# Only numbers that can receive SMS (SPEC §4): the library's own example number of every type, in several regions.
REGIONS = ("KE", "UG", "TZ", "NG", "GB", "DE", "FR", "US", "IN", "AU", "JP", "BR")
T = phonenumbers.PhoneNumberType
SMS_CAPABLE = {T.MOBILE, T.FIXED_LINE_OR_MOBILE}
TYPES = {name: getattr(T, name) for name in (
    "MOBILE", "FIXED_LINE_OR_MOBILE", "FIXED_LINE", "PREMIUM_RATE", "SHARED_COST", "TOLL_FREE", "VOIP", "PAGER",
    "PERSONAL_NUMBER", "UAN", "VOICEMAIL",
)}
EXAMPLES = [
    pytest.param(region, name, phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164),
                 id=f"{region}-{name}")
    for region in REGIONS
    for name, kind in TYPES.items()
    if (number := phonenumbers.example_number_for_type(region, kind)) is not None
]


def _kind(e164):
    return phonenumbers.number_type(phonenumbers.parse(e164))


def test_the_examples_cover_every_refused_type():
    refused = {_kind(param.values[2]) for param in EXAMPLES} - SMS_CAPABLE
    assert refused >= {T.FIXED_LINE, T.PREMIUM_RATE, T.SHARED_COST, T.TOLL_FREE, T.VOIP, T.PAGER,
                       T.PERSONAL_NUMBER, T.UAN, T.VOICEMAIL}
    assert sum(_kind(param.values[2]) in SMS_CAPABLE for param in EXAMPLES) >= len(REGIONS)


@pytest.mark.parametrize(("region", "name", "e164"), EXAMPLES)
def test_only_mobile_numbers_are_accepted(region, name, e164):
    if _kind(e164) in SMS_CAPABLE:  # e.g. the US "fixed line" example: fixed line or mobile
        assert normalize_phone(e164) == e164
        national = phonenumbers.format_number(phonenumbers.parse(e164), phonenumbers.PhoneNumberFormat.NATIONAL)
        if region == "KE":  # no `+`: read as Kenyan
            assert normalize_phone(national) == e164
        return
    with pytest.raises(InvalidPhoneNumber) as caught:
        normalize_phone(e164)
    assert (caught.value.status, caught.value.code) == (400, "phone_number_not_mobile")
    assert "phone_number" in caught.value.details


@pytest.mark.parametrize("raw", ["+4409098790000", "+44 909 879 0000", "+44 800 123 4567", "+44 20 7946 0958",
                                 "+254 20 2012345", "0900 123456", "0800 123456"])
def test_premium_toll_free_and_fixed_line_numbers_are_refused(raw):
    with pytest.raises(InvalidPhoneNumber):
        normalize_phone(raw)


def test_phone_regions_limit_where_numbers_may_come_from():
    ke, ug = "+254712345678", "+256712345678"
    gb = phonenumbers.format_number(phonenumbers.example_number_for_type("GB", T.MOBILE),
                                    phonenumbers.PhoneNumberFormat.E164)
    for raw in (ke, ug, gb, "0712345678"):
        assert normalize_phone(raw)  # no regions: any region
    assert normalize_phone("0712 345 678", regions=("KE", "UG")) == ke
    assert normalize_phone(ug, regions=("KE", "UG")) == ug
    with pytest.raises(InvalidPhoneNumber) as caught:
        normalize_phone(gb, regions=("KE", "UG"))
    assert (caught.value.status, caught.value.code) == (400, "phone_region_not_allowed")
    with pytest.raises(InvalidPhoneNumber):
        normalize_phone(ke, regions=("UG",))
    with pytest.raises(InvalidPhoneNumber) as caught:  # the type is checked whatever the region
        normalize_phone("+254 20 2012345", regions=("KE",))
    assert caught.value.code == "phone_number_not_mobile"
