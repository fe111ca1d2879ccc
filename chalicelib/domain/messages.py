"""The notification texts, exactly as SPEC §8 words them."""


def new_order_for_staff(number: int, customer_email: str) -> str:
    return f"A new order (#{number}) placed for {customer_email} requires your attention."


def order_placed(phone: str, number: int) -> str:
    return f"Hello {phone} your order #{number} has been placed successfully."


def order_approved(phone: str, number: int) -> str:
    return f"Good news, {phone}! Your order #{number} has been approved."


def order_cancelled(phone: str, number: int) -> str:
    return f"Sorry, {phone}. Your order #{number} has been cancelled."
