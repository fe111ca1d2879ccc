"""Phone numbers: normalized to E.164 with `phonenumbers`; a number without `+` is read as Kenyan.

`0712345678`, `0712 345 678`, `712-345-678` and `254712345678` all become `+254712345678`.
Only digits, spaces, dashes, dots and parentheses are accepted around them (no letters: the library
would otherwise read vanity numbers such as `0800-FLOWERS`).
"""

from __future__ import annotations

import re

from chalicelib.domain.errors import InvalidInput

DEFAULT_REGION = "KE"
MAX_INPUT_LENGTH = 32
_ALLOWED = re.compile(r"\+?[0-9][0-9 \-.()]*")


class InvalidPhoneNumber(InvalidInput):
    code = "invalid_phone_number"


def normalize_phone(raw: object, field: str = "phone_number") -> str:
    """The E.164 form of `raw`, or InvalidPhoneNumber (400) when it is empty or not a valid number."""
    if not isinstance(raw, str) or not raw.strip():
        raise InvalidPhoneNumber("a phone number is required", details={field: ["must not be empty"]})
    text = raw.strip()
    if len(text) > MAX_INPUT_LENGTH or not _ALLOWED.fullmatch(text):
        raise InvalidPhoneNumber("not a phone number", details={field: ["not a valid phone number"]})

    import phonenumbers  # about 30 ms of metadata: loaded only when a number is checked

    try:
        number = phonenumbers.parse(text, DEFAULT_REGION)
    except phonenumbers.NumberParseException:
        number = None
    if number is None or not phonenumbers.is_valid_number(number):
        raise InvalidPhoneNumber("not a valid phone number", details={field: ["not a valid phone number"]})
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
