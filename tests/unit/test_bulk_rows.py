"""Reading bulk upload files: finding the file, structural errors, and per-row checks (SPEC §6)."""

import json

import pytest

from chalicelib.domain import bulk_rows
from chalicelib.domain.bulk_rows import CSV, JSON, UNSET, RowInput, check_row, read_rows, read_upload
from chalicelib.domain.errors import InvalidInput, PayloadTooLarge
from tests.support.catalog import multipart

CSV_BODY = b"name,stock,price,category\nLamp,3,15.00,Home/Lighting\n"


def rows_of(data: bytes, kind=CSV):
    return [(n, checked) for n, checked in bulk_rows.iter_checked(read_rows(kind, data))]


# --- finding the file


@pytest.mark.parametrize("content_type", ["text/csv", "text/csv; charset=utf-8", "application/csv", "TEXT/CSV"])
def test_raw_csv_bodies(content_type):
    assert read_upload(CSV_BODY, content_type) == (CSV, CSV_BODY)


def test_raw_json_bodies():
    body = b'[{"name": "x"}]'
    assert read_upload(body, "application/json; charset=utf-8") == (JSON, body)


@pytest.mark.parametrize("filename, part_type, kind", [
    ("products.csv", "text/csv", CSV),
    ("products.csv", "application/octet-stream", CSV),
    ("products.CSV", None, CSV),
    ("products.json", None, JSON),
    ("blob", "application/json", JSON),
    ("blob", None, CSV),  # sniffed: not a JSON list
    ("export.csv", "application/vnd.ms-excel", CSV),  # what some browsers send for .csv
])
def test_multipart_file_field(filename, part_type, kind):
    body, content_type = multipart(CSV_BODY if kind == CSV else b"[]", filename=filename, content_type=part_type)
    assert read_upload(body, content_type) == (kind, CSV_BODY if kind == CSV else b"[]")


def test_multipart_sniffs_json_without_a_name_or_type():
    body, content_type = multipart(b'\xef\xbb\xbf [{"a": 1}]', filename="", content_type=None)
    assert read_upload(body, content_type)[0] == JSON


def test_multipart_keeps_binary_content_and_crlf_inside_the_file():
    data = b"name,stock,price,category\r\nA,1,2,C\r\n\r\n"
    body, content_type = multipart(data)
    assert read_upload(body, content_type)[1] == data


def test_multipart_other_fields_are_ignored():
    first, content_type = multipart(b"ignored", field="note", content_type=None)
    boundary = content_type.split("boundary=")[1]
    second, _ = multipart(CSV_BODY)
    second_boundary = second.split(b"\r\n", 1)[0][2:].decode()
    body = first.replace(f"--{boundary}--".encode(), b"") + second.replace(second_boundary.encode(), boundary.encode())
    assert read_upload(body, content_type) == (CSV, CSV_BODY)


@pytest.mark.parametrize("body, content_type, code", [
    (CSV_BODY, "application/xml", "unsupported_file_type"),
    (CSV_BODY, "", "unsupported_file_type"),
    (CSV_BODY, "multipart/form-data", "invalid_multipart"),
    (b"garbage", "multipart/form-data; boundary=xyz", "invalid_multipart"),
])
def test_bad_envelopes(body, content_type, code):
    with pytest.raises(InvalidInput) as error:
        read_upload(body, content_type)
    assert error.value.code == code


def test_a_form_without_the_file_field():
    body, content_type = multipart(CSV_BODY, field="upload")
    with pytest.raises(InvalidInput) as error:
        read_upload(body, content_type)
    assert error.value.code == "missing_file"


@pytest.mark.parametrize("filename, part_type", [("sheet.xlsx", None), ("photo", "image/png"), ("a.pdf", None)])
def test_files_that_are_not_csv_or_json(filename, part_type):
    body, content_type = multipart(b"PK\x03\x04", filename=filename, content_type=part_type)
    with pytest.raises(InvalidInput) as error:
        read_upload(body, content_type)
    assert error.value.code == "unsupported_file_type"


def test_over_10_mb_is_413():
    big = b"x" * (bulk_rows.MAX_BYTES + 1)
    with pytest.raises(PayloadTooLarge) as error:
        read_upload(big, "text/csv")
    assert error.value.code == "file_too_large"
    body, content_type = multipart(big)
    with pytest.raises(PayloadTooLarge):
        read_upload(body, content_type)
    assert read_upload(b"x" * bulk_rows.MAX_BYTES, "text/csv")[1]  # exactly 10 MB is fine


# --- structure


@pytest.mark.parametrize("data, code", [
    (b"", "empty_file"), (b"  \n\n", "empty_file"), (b"\xef\xbb\xbf", "empty_file"),
    (b"name,stock,price,category\n", "empty_file"), (b"name,stock,price,category\n,,,\n\n", "empty_file"),
    (b"name,price,category\nA,1,C\n", "missing_columns"),
    (b"name,stock,price,category\n\xff\xfe,1,1,C\n", "invalid_encoding"),
    (b"name,stock,price,category,name\nA,1,1,C,B\n", "invalid_csv"),
    (b'name,stock,price,category\n"A,1,1,C\n', "invalid_csv"),
    (b"name,stock,price,category\nA\x00,1,1,C\n", "invalid_encoding"),
    ("name,stock,price,category\n".encode("utf-16-le"), "invalid_encoding"),
])
def test_structurally_bad_csv(data, code):
    with pytest.raises(InvalidInput) as error:
        read_rows(CSV, data)
    assert error.value.code == code


def test_missing_columns_are_named():
    with pytest.raises(InvalidInput) as error:
        read_rows(CSV, b"Name,Price\nA,1\n")
    assert error.value.details["missing"] == ["stock", "category"]


@pytest.mark.parametrize("data, code", [
    (b"{not json", "invalid_json"), (b'{"name": "A"}', "invalid_json"), (b"[]", "empty_file"),
    (b"\xff[]", "invalid_encoding"),
])
def test_structurally_bad_json(data, code):
    with pytest.raises(InvalidInput) as error:
        read_rows(JSON, data)
    assert error.value.code == code


def test_too_many_rows_is_413():
    header = b"name,stock,price,category\n"
    with pytest.raises(PayloadTooLarge) as error:
        read_rows(CSV, header + b"A,1,1,C\n" * (bulk_rows.MAX_ROWS + 1))
    assert error.value.code == "too_many_rows"
    assert len(read_rows(CSV, header + b"A,1,1,C\n" * bulk_rows.MAX_ROWS).rows) == bulk_rows.MAX_ROWS
    with pytest.raises(PayloadTooLarge):
        read_rows(JSON, json.dumps([{}] * (bulk_rows.MAX_ROWS + 1)).encode())


def test_bom_header_case_column_order_and_blank_lines():
    data = "\ufeffCategory, Price ,STOCK,name,discount_price\r\n\r\nHome,10.50,2,Lamp,\r\n,,,,\r\nHome,3,1,Mat,1\r\n"
    rows = rows_of(data.encode("utf-8"))
    assert [n for n, _ in rows] == [1, 2]
    lamp, mat = rows[0][1], rows[1][1]
    assert lamp == RowInput(row=1, name="Lamp", price_cents=1050, discount_price_cents=None, stock=2, path=("Home",))
    assert mat.discount_price_cents == 100


def test_extra_columns_are_ignored_but_extra_values_are_a_row_error():
    rows = rows_of(b"name,stock,price,category,notes\nA,1,1,C,hello\nB,1,1,C,x,y\n")
    assert isinstance(rows[0][1], RowInput)
    assert rows[1] == (2, {"row": ["has 6 values but the header has 5"]})


def test_without_a_discount_column_existing_discounts_are_kept():
    (_, row), = rows_of(b"name,stock,price,category\nA,1,1,C\n")
    assert row.discount_price_cents is UNSET


# --- rows


def test_row_errors_name_every_bad_field():
    errors = check_row(1, {"name": "", "stock": "1.5", "price": "-3", "category": "A//B", "discount_price": "x"},
                       kind=CSV)
    assert set(errors) == {"name", "stock", "price", "category", "discount_price"}
    assert errors["name"] == ["is required"]
    assert errors["stock"] == ["must be an integer"]
    assert errors["price"] == ["must be greater than 0"]


def test_discount_must_be_below_the_rows_price():
    errors = check_row(1, {"name": "A", "stock": "1", "price": "10", "category": "C", "discount_price": "10"},
                       kind=CSV)
    assert errors == {"discount_price": ["must be less than the price (10.00)"]}


def test_json_rows():
    good = check_row(3, {"name": "A", "stock": 2, "price": 9.99, "category": "X/Y", "discount_price": None,
                         "extra": True}, kind=JSON)
    assert good == RowInput(row=3, name="A", price_cents=999, discount_price_cents=None, stock=2, path=("X", "Y"))
    assert check_row(1, {"name": "A", "stock": 2, "price": 1, "category": "C"}, kind=JSON).discount_price_cents is UNSET
    assert check_row(1, ["A", 1], kind=JSON) == {"row": ["must be an object with name, stock, price and category"]}
    errors = check_row(1, {"name": 5, "stock": True, "price": None, "category": ""}, kind=JSON)
    assert errors == {"name": ["must be a string"], "stock": ["must be an integer"], "price": ["is required"],
                      "category": ["must be a category name or path, e.g. Electronics/Laptops"]}


def test_rows_are_numbered_from_one_after_the_header():
    data = b"name,stock,price,category\nA,1,1,C\nB,x,1,C\n\nC,1,0,C\n"
    numbered = rows_of(data)
    assert [(n, isinstance(c, dict)) for n, c in numbered] == [(1, False), (2, True), (3, True)]
