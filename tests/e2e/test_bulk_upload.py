"""Bulk upload over HTTP on the real local stack: every case of SPEC §6, a 10,000-row file, re-uploads."""

from __future__ import annotations

import json
import time
from decimal import ROUND_HALF_UP, Decimal

import pytest

from tests.support.catalog import csv_text, multipart, unique
from tests.support.stack import eventually, settle_indexes

HEADER = "name,stock,price,category"


def upload(staff, stack, data: bytes | str, content_type: str = "text/csv", path: str = "bulk-upload", **params):
    data = data.encode() if isinstance(data, str) else data
    answer = staff.post(f"{stack.api}/products/{path}", data=data, headers={"Content-Type": content_type},
                        params=params, timeout=120)
    settle_indexes()  # the tests read lists next, which may lag the upload's writes (SPEC §4)
    return answer


def category_id(staff, stack, *path: str) -> str:
    """The id of the category at `path` (top level first), found through the listing routes."""
    def named(parent: str, name: str) -> list[dict]:
        children = staff.get(f"{stack.api}/categories", params={"parent_id": parent, "limit": 100}, timeout=30)
        found = [c for c in children.json()["items"] if c["name"].casefold() == name.casefold()]
        if not found and parent == "root":  # many top-level categories: page through them
            cursor = children.json()["next_cursor"]
            while cursor and not found:
                page = staff.get(f"{stack.api}/categories", params={"parent_id": "root", "limit": 100,
                                                                     "cursor": cursor}, timeout=30).json()
                found = [c for c in page["items"] if c["name"].casefold() == name.casefold()]
                cursor = page["next_cursor"]
        return found

    parent = "root"
    for name in path:
        found = eventually(lambda p=parent, n=name: named(p, n), bool)  # the list may lag the upload (SPEC §4)
        assert found, f"no category {name} under {parent}"
        parent = found[0]["id"]
    return parent


def products_of(staff, stack, category: str, descendants: bool = True) -> list[dict]:
    items, cursor = [], None
    while True:
        params = {"category_id": category, "include_descendants": str(descendants).lower(), "limit": 100}
        if cursor:
            params["cursor"] = cursor
        page = staff.get(f"{stack.api}/products", params=params, timeout=30).json()
        items += page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            return items


def average(staff, stack, category: str) -> dict:
    return staff.get(f"{stack.api}/categories/{category}/average-price", timeout=30).json()


def test_multipart_csv_creates_products_and_category_paths(stack, staff):
    root = unique("Shop")
    rows = [("Desk lamp", 12, "1500.00", f"{root}/Lighting"), ("Desk", 2, 9000, f"{root}/Furniture"),
            ("Rug", 1, "300.5", root)]
    body, content_type = multipart(("\ufeff" + csv_text(rows)).encode())
    response = staff.post(f"{stack.api}/products/bulk-upload", data=body, headers={"Content-Type": content_type},
                          timeout=60)
    assert response.status_code == 201, response.text
    assert response.json() == {"products_created": 3, "products_updated": 0, "errors": []}
    top = category_id(staff, stack, root)
    lighting = category_id(staff, stack, root, "Lighting")
    (lamp,) = products_of(staff, stack, lighting)
    assert (lamp["name"], lamp["stock"], lamp["price"], lamp["discount_price"]) == ("Desk lamp", 12, "1500.00", None)
    assert average(staff, stack, top) == {"category_id": top, "category": root, "average_price": "3600.17",
                                          "products_count": 3, "subcategory_count": 2}


def test_requests_python_files_field(stack, staff):
    """The way most clients send a form: requests' files= (content type and boundary chosen by requests)."""
    root = unique("Form")
    text = csv_text([("A", 1, 1, root), ("B", 2, 2, root)])
    response = staff.post(f"{stack.api}/products/bulk_upload", files={"file": ("products.csv", text, "text/csv")},
                          timeout=60)
    assert response.status_code == 201 and response.json()["products_created"] == 2
    json_rows = [{"name": "C", "stock": 1, "price": "2.50", "category": root, "discount_price": "1.00"}]
    response = staff.post(f"{stack.api}/products/bulk-upload",
                          files={"file": ("rows.json", json.dumps(json_rows).encode(), "application/json")}, timeout=60)
    assert response.status_code == 201 and response.json()["products_created"] == 1
    missing_field = staff.post(f"{stack.api}/products/bulk-upload", files={"upload": ("x.csv", text)}, timeout=60)
    assert missing_field.status_code == 400 and missing_field.json()["error"]["code"] == "missing_file"


def test_raw_json_body(stack, staff):
    root = unique("Json")
    rows = [{"name": "Phone", "stock": 5, "price": 199.99, "category": f"{root}/Phones", "discount_price": 150},
            {"name": "Case", "stock": "7", "price": "9.90", "category": f"{root}/Phones"}]
    response = upload(staff, stack, json.dumps(rows), "application/json")
    assert response.status_code == 201, response.text
    phones = products_of(staff, stack, category_id(staff, stack, root, "Phones"))
    assert sorted((p["name"], p["current_price"]) for p in phones) == [("Case", "9.90"), ("Phone", "150.00")]


def test_uploading_the_same_file_twice_is_safe(stack, staff):
    root = unique("Twice")
    text = csv_text([(f"item {i}", i, f"{10 + i}.00", f"{root}/Sub{i % 3}") for i in range(60)])
    first = upload(staff, stack, text)
    second = upload(staff, stack, text)
    assert (first.status_code, first.json()["products_created"], first.json()["products_updated"]) == (201, 60, 0)
    assert (second.status_code, second.json()["products_created"], second.json()["products_updated"]) == (201, 0, 60)
    top = category_id(staff, stack, root)
    assert len(products_of(staff, stack, top)) == 60
    assert average(staff, stack, top)["products_count"] == 60
    renamed_case = upload(staff, stack, csv_text([("ITEM 1", 99, "11.00", f"{root.upper()}/sub1")]))
    assert renamed_case.json() == {"products_created": 0, "products_updated": 1, "errors": []}
    def items_1():  # the list may show the product as it was before the upload for a moment (SPEC §4)
        return [p for p in products_of(staff, stack, top) if p["name"].casefold() == "item 1"]

    (item,) = eventually(items_1, lambda found: [(p["name"], p["stock"]) for p in found] == [("ITEM 1", 99)])
    assert (item["name"], item["stock"]) == ("ITEM 1", 99)


def test_some_rows_failing_is_207_with_row_numbers(stack, staff):
    root = unique("Partial")
    text = (f"{HEADER},discount_price\n"
            f"Good,1,10.00,{root},\n"
            f"\n"
            f",1,10.00,{root},\n"
            f"Negative,-1,10.00,{root},\n"
            f"Discounted,1,10.00,{root},10.00\n"
            f"Also good,2,5,{root},1\n")
    response = upload(staff, stack, text)
    assert response.status_code == 207
    body = response.json()
    assert (body["products_created"], body["products_updated"]) == (2, 0)
    assert body["errors"] == [
        {"row": 2, "errors": {"name": ["is required"]}},
        {"row": 3, "errors": {"stock": ["must be 0 or more"]}},
        {"row": 4, "errors": {"discount_price": ["must be less than the price (10.00)"]}},
    ]


def test_no_row_applied_is_400_and_writes_nothing(stack, staff):
    root = unique("Nothing")
    response = upload(staff, stack, csv_text([("A", "many", 1, root), ("B", 1, "free", root)]))
    assert response.status_code == 400
    body = response.json()
    assert body["error"]["code"] == "no_rows_applied"
    assert (body["products_created"], body["products_updated"]) == (0, 0)
    assert [e["row"] for e in body["errors"]] == [1, 2]
    assert body["errors"][0]["errors"] == {"stock": ["must be an integer"]}
    roots = staff.get(f"{stack.api}/categories", params={"parent_id": "root", "limit": 100}, timeout=30).json()
    assert root not in {c["name"] for c in roots["items"]}


@pytest.mark.parametrize("data, content_type, status, code", [
    (b"", "text/csv", 400, "empty_file"),
    (b"\xef\xbb\xbf", "text/csv", 400, "empty_file"),
    (HEADER.encode() + b"\n", "text/csv", 400, "empty_file"),
    (b"name,price,category\nA,1,B\n", "text/csv", 400, "missing_columns"),
    (b"name,stock,price,category\n\xc3\x28,1,1,B\n", "text/csv", 400, "invalid_encoding"),
    (b'{"name": "A"}', "application/json", 400, "invalid_json"),
    (b"[", "application/json", 400, "invalid_json"),
    (b"<products/>", "application/xml", 400, "unsupported_file_type"),
])
def test_structurally_bad_files(stack, staff, data, content_type, status, code):
    response = upload(staff, stack, data, content_type)
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code


def test_a_spreadsheet_is_not_a_csv(stack, staff):
    response = staff.post(f"{stack.api}/products/bulk-upload",
                          files={"file": ("products.xlsx", b"PK\x03\x04 not csv", "application/vnd.openxmlformats")},
                          timeout=60)
    assert response.status_code == 400 and response.json()["error"]["code"] == "unsupported_file_type"


def test_too_large_and_too_many_rows_are_413_and_write_nothing(stack, staff):
    root = unique("Huge")
    too_many = HEADER + "\n" + f"x,1,1,{root}\n" * 50_001
    response = upload(staff, stack, too_many)
    assert response.status_code == 413 and response.json()["error"]["code"] == "too_many_rows"
    padding = "y" * 180
    big = HEADER + "\n" + "".join(f"{padding}{i},1,1,{root}\n" for i in range(10 * 1024 * 1024 // 190 + 10))
    assert 10 * 1024 * 1024 < len(big) < 11 * 1024 * 1024
    response = upload(staff, stack, big)
    assert response.status_code == 413 and response.json()["error"]["code"] == "file_too_large"
    body, content_type = multipart(big.encode())
    assert upload(staff, stack, body, content_type).status_code == 413
    roots = staff.get(f"{stack.api}/categories", params={"parent_id": "root", "limit": 100}, timeout=30).json()
    assert root not in {c["name"] for c in roots["items"]}


def test_dry_run_validates_without_writing(stack, staff):
    root = unique("Dry")
    upload(staff, stack, csv_text([("Kept", 1, "5.00", root)]))
    text = csv_text([("Kept", 9, "6.00", root), ("New", 1, "1.00", f"{root}/Sub"), ("Bad", -1, "1.00", root)])
    response = upload(staff, stack, text, dry_run="true")
    assert response.status_code == 207
    assert response.json() == {"products_created": 1, "products_updated": 1, "dry_run": True,
                               "errors": [{"row": 3, "errors": {"stock": ["must be 0 or more"]}}]}
    top = category_id(staff, stack, root)
    (kept,) = products_of(staff, stack, top)
    assert (kept["stock"], kept["price"]) == (1, "5.00")
    subs = staff.get(f"{stack.api}/categories", params={"parent_id": top}, timeout=30).json()
    assert subs["items"] == []
    clean = upload(staff, stack, csv_text([("Kept", 9, "6.00", root)]), dry_run="true")
    assert (clean.status_code, clean.json()["products_updated"]) == (200, 1)


def test_ten_thousand_rows(stack, staff):
    root = unique("Big")
    rows = [(f"product {i:05d}", i % 50, f"{1 + i % 1000}.{i % 100:02d}", f"{root}/Dept{i % 5}/Shelf{i % 20}")
            for i in range(10_000)]
    started = time.monotonic()
    response = upload(staff, stack, csv_text(rows))
    elapsed = time.monotonic() - started
    assert response.status_code == 201, response.text[:500]
    assert response.json() == {"products_created": 10_000, "products_updated": 0, "errors": []}
    top = category_id(staff, stack, root)
    total = sum(Decimal(price) for _, _, price, _ in rows)
    expected_mean = (total / len(rows)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    answer = average(staff, stack, top)
    assert answer["products_count"] == 10_000 and answer["subcategory_count"] == 5 + 20
    assert answer["average_price"] == str(expected_mean)
    shelf = category_id(staff, stack, root, "Dept3", "Shelf3")
    shelf_rows = [price for _, _, price, path in rows if path.endswith("/Dept3/Shelf3")]
    shelf_mean = (sum(Decimal(p) for p in shelf_rows) / len(shelf_rows)).quantize(Decimal("0.01"), ROUND_HALF_UP)
    assert average(staff, stack, shelf) == {"category_id": shelf, "category": "Shelf3",
                                            "average_price": str(shelf_mean), "products_count": 500,
                                            "subcategory_count": 0}
    sample = staff.get(f"{stack.api}/products", params={"category_id": shelf, "limit": 3}, timeout=30).json()
    assert [p["name"] for p in sample["items"]] == ["product 00003", "product 00023", "product 00043"]
    assert sample["next_cursor"]
    assert elapsed < 110
