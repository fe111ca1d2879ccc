"""`make backfill-claims`: name claims and name sets for catalog data stored before they existed.

Bulk upload and the product duplicate check read the base-table name claims (never an index); a product
written by an earlier version has none, so an upload would not find it and would create a second one.
Run this once per stage after deploying the version that introduced the claims (and again if an older
version wrote products meanwhile). It is idempotent: it reads the tables themselves, adds only what is
missing, and of same-named products in one category (possible only before claims) the oldest keeps the
name. Uses the same environment as the stack (STAGE, AWS_ENDPOINT_URL; `make run` defaults otherwise).
"""

from __future__ import annotations

import json
import os
import sys

from chalicelib.runtime.stack import LOCAL_DEFAULTS


def main(argv: list[str] | None = None) -> int:
    for key, value in LOCAL_DEFAULTS.items():
        os.environ.setdefault(key, value)
    if os.environ.get("STAGE") == "local" and not os.environ.get("AWS_ENDPOINT_URL"):
        os.environ["AWS_ENDPOINT_URL"] = f"http://127.0.0.1:{os.environ.get('EKIOSK_EMULATOR_PORT', '4566')}"

    from chalicelib.bootstrap import services

    catalog = services().catalog
    counts = {"categories": catalog.backfill_name_sets(), **catalog.backfill_product_claims()}
    print(json.dumps(counts))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
