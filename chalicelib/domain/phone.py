"""Phone numbers: normalized to E.164 with `phonenumbers`; a number without `+` is read as Kenyan.

`0712345678`, `0712 345 678`, `712-345-678` and `254712345678` all become `+254712345678`.
Only digits, spaces, dashes, dots and parentheses are accepted around them (no letters: the library
would otherwise read vanity numbers such as `0800-FLOWERS`).

Only numbers that can receive SMS are accepted (SPEC §4): `phonenumbers.number_type` MOBILE or
FIXED_LINE_OR_MOBILE (regions where the two can't be told apart, e.g. the US). Premium-rate, shared-cost,
toll-free, VoIP, pager, personal, UAN, voicemail, fixed-line and unknown numbers are a 400. With `regions`
(the `PHONE_REGIONS` setting), a number must also belong to one of those ISO 3166 regions.
"""

from __future__ import annotations

import re

from chalicelib.domain.errors import InvalidInput

DEFAULT_REGION = "KE"
MAX_INPUT_LENGTH = 32
_ALLOWED = re.compile(r"\+?[0-9][0-9 \-.()]*")


class InvalidPhoneNumber(InvalidInput):
    code = "invalid_phone_number"


def normalize_phone(raw: object, field: str = "phone_number", regions: tuple[str, ...] = ()) -> str:
    """The E.164 form of `raw`, or InvalidPhoneNumber (400) when it is empty, not a valid number, cannot
    receive SMS, or (with `regions`) belongs to none of those regions."""
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
    sms_capable = (phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE)
    if phonenumbers.number_type(number) not in sms_capable:
        raise InvalidPhoneNumber("this number cannot receive SMS",
                                 details={field: ["must be a mobile number that can receive SMS"]},
                                 code="phone_number_not_mobile")
    if regions and phonenumbers.region_code_for_number(number) not in regions:
        raise InvalidPhoneNumber("numbers of this region are not accepted",
                                 details={field: [f"must be a number of {', '.join(regions)}"]},
                                 code="phone_region_not_allowed")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
