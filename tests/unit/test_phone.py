"""Phone numbers: E.164 normalization, Kenyan by default, and the 400 cases."""

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
        ("+44 20 7946 0958", "+442079460958"),
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
