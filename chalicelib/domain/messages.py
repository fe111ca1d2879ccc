"""The notification texts, exactly as SPEC §8 words them."""


def new_order_for_staff(number: int, customer_email: str) -> str:
    return f"A new order (#{number}) placed for {customer_email} requires your attention."


def order_placed(phone: str, number: int) -> str:
    return f"Hello {phone} your order #{number} has been placed successfully."


def order_approved(phone: str, number: int) -> str:
    return f"Good news, {phone}! Your order #{number} has been approved."


def order_cancelled(phone: str, number: int) -> str:
    return f"Sorry, {phone}. Your order #{number} has been cancelled."


EMAIL_SUBJECT = "ekiosk: a new order requires your attention"


def email_subject(message: str) -> str:
    """The subject of a staff email (SPEC §8 words only the body); the order number, when present, is kept."""
    start = message.find("(#")
    end = message.find(")", start)
    if start >= 0 and end > start:
        return f"ekiosk: new order {message[start + 1 : end]} requires your attention"
    return EMAIL_SUBJECT
