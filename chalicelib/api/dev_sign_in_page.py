"""The development sign-in page (`/oidc/dev/authorize` without an email; auth/dev_provider.py): a form asking
for one that submits to the page's own URL, keeping the code flow's parameters as hidden fields. Served with
DEV_PAGE_POLICY: no script at all."""

from __future__ import annotations

from html import escape

DEV_PAGE_POLICY = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'"


def render(parameters: dict[str, str]) -> str:
    """The page; `parameters` (the authorization request's) come back with the form, escaped."""
    hidden = "\n".join(
        f'<input type="hidden" name="{name}" value="{escape(value, quote=True)}">' for name, value in parameters.items()
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>ekiosk development sign-in</title>
<style>body{{font-family:system-ui,sans-serif;max-width:28rem;margin:3rem auto;padding:0 1rem}}
label{{display:block;margin:.8rem 0 .2rem}}input[type=email],input[type=text]{{width:100%;padding:.4rem}}
button{{margin-top:1rem;padding:.5rem 1rem}}</style></head>
<body><main><h1>Development sign-in</h1>
<p>This local stack has no OIDC provider configured: sign in as any email address (local only).</p>
<form method="get" action="authorize">
{hidden}
<label for="email">Email</label><input id="email" name="email" type="email" required autofocus maxlength="254">
<label for="name">Name (optional)</label><input id="name" name="name" type="text" maxlength="200">
<button type="submit">Sign in</button>
</form></main></body></html>
"""
