"""Bulk upload files (SPEC §6): finding the file in the request, reading its rows, checking each row.

Structural problems (not CSV/JSON, undecodable, empty, missing columns, too big, too many rows) raise
a DomainError before anything is written; problems with a single row become that row's errors
`{field: [messages]}`, with rows numbered from 1 (the CSV header is not a row; blank lines are skipped).
"""

from __future__ import annotations

import csv
import functools
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import Message
from typing import Any

from chalicelib.domain import catalog as rules
from chalicelib.domain.errors import InvalidInput, PayloadTooLarge

MAX_BYTES = 10 * 1024 * 1024  # 10 MiB of file
MAX_ROWS = 50_000
MULTIPART_OVERHEAD = 64 * 1024  # room for the multipart envelope around a file of MAX_BYTES
REQUIRED = ("name", "stock", "price", "category")
OPTIONAL = ("discount_price",)
BOM = b"\xef\xbb\xbf"
CSV, JSON = "csv", "json"
UNSET = object()  # the row says nothing about the discount: an existing product keeps its own

CSV_TYPES = {"text/csv", "application/csv", "text/plain", "text/x-csv", "application/vnd.ms-excel"}
JSON_TYPES = {"application/json", "text/json"}
NEUTRAL_TYPES = {"", "application/octet-stream"}


def _too_large() -> PayloadTooLarge:
    return PayloadTooLarge(
        f"the file is larger than {MAX_BYTES // (1024 * 1024)} MB", details={"max_bytes": MAX_BYTES},
        code="file_too_large",
    )


def _too_many_rows() -> PayloadTooLarge:
    return PayloadTooLarge(
        f"the file has more than {MAX_ROWS} rows", details={"max_rows": MAX_ROWS}, code="too_many_rows"
    )


def _bad_file(message: str, code: str = "invalid_file", details: Any = None) -> InvalidInput:
    return InvalidInput(message, details=details, code=code)


# --- finding the file


def _media_type(content_type: str) -> tuple[str, Message]:
    header = Message()
    header["content-type"] = content_type or ""
    return (header.get_content_type() if content_type else ""), header


def read_upload(body: bytes, content_type: str) -> tuple[str, bytes]:
    """(CSV or JSON, the file's bytes) from a multipart form's `file` field or a raw body."""
    if not body:
        raise _bad_file("the request has no file", code="empty_file")
    media, header = _media_type(content_type)
    if media == "multipart/form-data":
        if len(body) > MAX_BYTES + MULTIPART_OVERHEAD:
            raise _too_large()
        boundary = header.get_param("boundary")
        if not boundary:
            raise _bad_file("the multipart body has no boundary", code="invalid_multipart")
        filename, part_type, data = _file_part(body, str(boundary))
        kind = _kind_of(filename, part_type, data)
    elif media in CSV_TYPES:
        kind, data = CSV, body
    elif media in JSON_TYPES:
        kind, data = JSON, body
    else:
        raise _bad_file(
            "send the file as multipart/form-data (field `file`), or a text/csv or application/json body",
            code="unsupported_file_type",
            details={"content_type": [f"'{media or 'none'}' is not supported"]},
        )
    if len(data) > MAX_BYTES:
        raise _too_large()
    return kind, data


def _file_part(body: bytes, boundary: str) -> tuple[str, str, bytes]:
    delimiter = b"--" + boundary.encode("latin-1")
    sections = body.split(delimiter)
    if len(sections) < 3:
        raise _bad_file("the multipart body is malformed", code="invalid_multipart")
    for section in sections[1:-1]:
        section = section.removeprefix(b"\r\n").removeprefix(b"\n")
        head, separator, content = section.partition(b"\r\n\r\n")
        if not separator:
            head, separator, content = section.partition(b"\n\n")
        if not separator:
            continue
        headers = Message()
        for line in head.decode("latin-1").splitlines():
            name, colon, value = line.partition(":")
            if colon:
                headers[name.strip()] = value.strip()
        if headers.get_param("name", header="content-disposition") != "file":
            continue
        content = content.removesuffix(b"\r\n") if content.endswith(b"\r\n") else content.removesuffix(b"\n")
        filename = headers.get_param("filename", header="content-disposition") or ""
        part_type = headers.get_content_type() if headers.get("content-type") else ""
        return str(filename), part_type, content
    raise _bad_file("the form has no `file` field", code="missing_file", details={"file": ["is required"]})


def _kind_of(filename: str, part_type: str, data: bytes) -> str:
    extension = filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    if extension == "json" or part_type in JSON_TYPES:
        return JSON
    if extension in ("csv", "txt") or part_type in CSV_TYPES:
        return CSV
    if extension or part_type not in NEUTRAL_TYPES:
        raise _bad_file(
            "the file must be CSV or JSON",
            code="unsupported_file_type",
            details={"file": [f"'{filename or part_type}' is neither CSV nor JSON"]},
        )
    return JSON if data.lstrip(BOM).lstrip()[:1] in (b"[", b"{") else CSV


# --- reading rows


def _text(data: bytes) -> str:
    try:
        text = data.removeprefix(BOM).decode("utf-8")
    except UnicodeDecodeError as error:
        raise _bad_file(
            "the file is not UTF-8 text", code="invalid_encoding", details={"byte": error.start}
        ) from None
    if "\x00" in text:
        raise _bad_file("the file contains NUL characters: it is not UTF-8 text (UTF-16?)", code="invalid_encoding",
                        details={"byte": text.index("\x00")})
    if not text.strip():
        raise _bad_file("the file is empty", code="empty_file")
    return text


@dataclass
class RawRows:
    kind: str
    rows: list[tuple[int, Any]]  # (1-based row number, dict of cells or a JSON value)
    discount_column: bool = True  # CSV: whether the header has discount_price
    problems: dict[int, dict[str, list[str]]] = field(default_factory=dict)  # row-level issues found reading


def read_rows(kind: str, data: bytes) -> RawRows:
    text = _text(data)
    return _csv_rows(text) if kind == CSV else _json_rows(text)


def _csv_rows(text: str) -> RawRows:
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next((row for row in reader if any(cell.strip() for cell in row)), None)
        if header is None:
            raise _bad_file("the file is empty", code="empty_file")
        columns = [cell.strip().lower() for cell in header]
        missing = [column for column in REQUIRED if column not in columns]
        if missing:
            raise _bad_file(
                f"the header must name the columns {', '.join(REQUIRED)} (missing: {', '.join(missing)})",
                code="missing_columns",
                details={"missing": missing, "required": list(REQUIRED), "optional": list(OPTIONAL)},
            )
        repeated = sorted({c for c in columns if c and columns.count(c) > 1})
        if repeated:
            raise _bad_file(f"the header repeats {', '.join(repeated)}", code="invalid_csv",
                            details={"repeated": repeated})
        result = RawRows(CSV, [], discount_column="discount_price" in columns)
        number = 0
        for cells in reader:
            if not any(cell.strip() for cell in cells):
                continue  # blank lines (and rows of empty cells) are not data rows
            number += 1
            if number > MAX_ROWS:
                raise _too_many_rows()
            if len(cells) > len(columns):
                result.problems[number] = {"row": [f"has {len(cells)} values but the header has {len(columns)}"]}
            result.rows.append((number, {c: v for c, v in zip(columns, cells, strict=False) if c}))
    except csv.Error as error:
        raise _bad_file(f"the CSV cannot be read: {error} (line {reader.line_num})", code="invalid_csv",
                        details={"line": reader.line_num}) from None
    if not result.rows:
        raise _bad_file("the file has a header but no rows", code="empty_file")
    return result


def _json_rows(text: str) -> RawRows:
    try:
        value = json.loads(text)
    except ValueError as error:
        raise _bad_file(f"the file is not valid JSON: {error}", code="invalid_json") from None
    if not isinstance(value, list):
        raise _bad_file("the JSON must be a list of product objects", code="invalid_json")
    if not value:
        raise _bad_file("the file has no rows", code="empty_file")
    if len(value) > MAX_ROWS:
        raise _too_many_rows()
    return RawRows(JSON, list(enumerate(value, start=1)))


# --- checking one row


@dataclass(eq=True)
class RowInput:
    row: int
    name: str
    price_cents: int
    discount_price_cents: Any  # int, None (no discount) or UNSET (keep an existing product's)
    stock: int
    path: tuple[str, ...]

    @functools.cached_property
    def name_key(self) -> str:
        return rules.name_key(self.name)

    @functools.cached_property
    def path_key(self) -> tuple[str, ...]:
        return tuple(rules.name_key(segment) for segment in self.path)


def check_row(number: int, raw: Any, *, kind: str, discount_column: bool = True) -> RowInput | dict:
    """A valid RowInput, or the row's errors {field: [messages]}."""
    if not isinstance(raw, dict):
        return {"row": ["must be an object with name, stock, price and category"]}
    errors: dict[str, list[str]] = {}
    text = kind == CSV

    def cell(name: str):
        value = raw.get(name)
        if text and isinstance(value, str) and not value.strip():
            return None
        return value

    def take(name: str, rule, **options):
        value = cell(name)
        if value is None:
            errors.setdefault(name, []).append("is required")
            return None
        try:
            return rule(value, **options)
        except ValueError as error:
            errors.setdefault(name, []).append(str(error))
            return None

    name = take("name", rules.clean_name)
    price = take("price", rules.clean_price)
    stock = take("stock", rules.clean_stock, text=True)
    path = take("category", rules.parse_path)
    discount: Any = UNSET
    if (text and discount_column) or (not text and "discount_price" in raw):
        try:
            discount = rules.clean_discount(cell("discount_price"))
        except ValueError as error:
            errors.setdefault("discount_price", []).append(str(error))
    if price is not None and discount not in (UNSET, None) and "discount_price" not in errors:
        try:
            rules.check_discount_below_price(price, discount, "discount_price")
        except ValueError as error:
            errors.setdefault("discount_price", []).append(str(error))
    if errors:
        return errors
    return RowInput(row=number, name=name, price_cents=price, discount_price_cents=discount, stock=stock, path=path)


def iter_checked(raw: RawRows) -> Iterator[tuple[int, RowInput | dict]]:
    for number, value in raw.rows:
        checked = check_row(number, value, kind=raw.kind, discount_column=raw.discount_column)
        if number in raw.problems:
            checked = {**raw.problems[number], **(checked if isinstance(checked, dict) else {})}
        yield number, checked
