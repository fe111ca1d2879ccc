"""The catalog's plain rules: field validation, levels, aggregate deltas, the average, the product view."""

import pytest

from chalicelib.domain import catalog as rules
from chalicelib.domain.catalog import AggregateDelta, AveragePrice, Category, PriceSnapshot, apply_delta
from tests.support.catalog import brute_force_average, product_delta


def category(cid, parent=None):
    return Category(
        id=cid,
        name=cid.upper(),
        parent_id=parent.id if parent else None,
        ancestors=(*parent.ancestors, parent.id) if parent else (),
        created_at="t",
        updated_at="t",
    )


def product(pid, category_id, price_cents, discount=None):
    return rules.new_product(pid, price_cents, discount, 1, category_id, "t")


# --- field rules


@pytest.mark.parametrize("value, cents", [(1500, 150000), ("1500.00", 150000), (19.99, 1999), ("0.01", 1),
                                          (" 12.5 ", 1250), ("1e3", 100000)])
def test_prices_accept_numbers_and_strings(value, cents):
    assert rules.clean_price(value) == cents


@pytest.mark.parametrize("value, message", [
    (0, "must be greater than 0"), (-1, "must be greater than 0"), ("abc", "must be a number"),
    ("", "must be a number"), (True, "must be a number"), (None, "must be a number"), ([1], "must be a number"),
    ("1.234", "at most two decimal places"), ("NaN", "finite"), ("Infinity", "finite"),
    (10**12, "at most 1000000000.00"),
])
def test_bad_prices_say_why(value, message):
    with pytest.raises(ValueError, match=message):
        rules.clean_price(value)


def test_discount_may_be_zero_or_absent_but_not_negative():
    assert rules.clean_discount(0) == 0
    assert rules.clean_discount(None) is None
    assert rules.clean_discount("10.50") == 1050
    with pytest.raises(ValueError, match="0 or more"):
        rules.clean_discount(-0.01)


def test_discount_must_stay_below_the_price():
    rules.check_discount_below_price(1000, 999, "discount_price")
    rules.check_discount_below_price(1000, None, "price")
    with pytest.raises(ValueError, match=r"less than the price \(10.00\)"):
        rules.check_discount_below_price(1000, 1000, "discount_price")
    with pytest.raises(ValueError, match=r"greater than the discount price \(12.00\)"):
        rules.check_discount_below_price(1000, 1200, "price")


@pytest.mark.parametrize("value", [0, 1, 1_000_000])
def test_stock_is_an_integer_of_zero_or_more(value):
    assert rules.clean_stock(value) == value


@pytest.mark.parametrize("value", [True, False, 1.5, 2.0, "3", None, -1, [1], 10**10])
def test_json_stock_rejects_booleans_floats_strings_negatives(value):
    with pytest.raises(ValueError):
        rules.clean_stock(value)


def test_csv_stock_may_be_text():
    assert rules.clean_stock(" 12 ", text=True) == 12
    for bad in ("1.5", "abc", "-2", "", "١٢"):
        with pytest.raises(ValueError):
            rules.clean_stock(bad, text=True)


def test_names_are_trimmed_and_1_to_200_characters():
    assert rules.clean_name("  Laptop ") == "Laptop"
    assert rules.clean_name("x" * 200) == "x" * 200
    for bad in ("", "   ", "x" * 201, 5, None):
        with pytest.raises(ValueError):
            rules.clean_name(bad)
    with pytest.raises(ValueError, match="'/'"):
        rules.clean_name("A/B", category=True)
    assert rules.clean_name("A/B") == "A/B"  # products may have slashes


def test_name_keys_ignore_case_and_blanks():
    assert rules.name_key("  Big   Laptop ") == rules.name_key("big laptop") == "big laptop"
    assert rules.name_key("STRASSE") == rules.name_key("straße")


def test_paths_split_into_levels():
    assert rules.parse_path("Electronics/Laptops") == ("Electronics", "Laptops")
    assert rules.parse_path(" Electronics / Laptops /") == ("Electronics", "Laptops")
    assert rules.parse_path("Solo") == ("Solo",)
    for bad in ("", "A//B", 3, "/".join("x" * 21)):
        with pytest.raises(ValueError):
            rules.parse_path(bad)


def test_plausible_ids():
    assert rules.plausible_id("abc123")
    assert not rules.plausible_id("")
    assert not rules.plausible_id("x" * 101)
    assert not rules.plausible_id("name:ROOT:x")
    assert not rules.plausible_id(None)


# --- categories and levels


def chain(length):
    cats = [category("c0")]
    for i in range(1, length):
        cats.append(category(f"c{i}", cats[-1]))
    return cats


def test_a_category_knows_its_depth_path_and_levels_up():
    cats = chain(6)
    deepest = cats[5]
    assert deepest.depth == 5
    assert deepest.path == "/c0/c1/c2/c3/c4/c5/"
    assert cats[2].path.startswith(cats[1].path)
    assert list(deepest.levels_up()) == [("c5", 0), ("c4", 1), ("c3", 2), ("c2", 3)]
    assert list(cats[0].levels_up()) == [("c0", 0)]


def test_too_deep_categories_are_refused():
    parent = chain(rules.MAX_DEPTH + 1)[-1]
    assert parent.depth == rules.MAX_DEPTH
    with pytest.raises(ValueError, match="nest at most"):
        rules.new_category("deeper", parent, "t")


def test_five_level_chain_average_from_aggregates():
    """SPEC §5's example: 100/200/300/400/1000 from the top is 250.00; from level 1 it is 475.00."""
    cats = chain(5)
    products = [product(f"p{i}", c.id, price * 100) for i, (c, price) in enumerate(zip(cats, [100, 200, 300, 400, 1000],
                                                                                      strict=True))]
    by_id = {c.id: c for c in cats}
    delta = AggregateDelta()
    for c in cats[1:]:
        delta.add_subcategory(c)
    for p in products:
        delta.add_product(by_id[p.category_id], p.price_cents)
    for cid, level_delta in delta.items():
        apply_delta(by_id[cid], level_delta)
    top = cats[0].average()
    assert top == AveragePrice("c0", "C0", "250.00", 4, 3)
    assert cats[1].average().average_price == "475.00"
    assert cats[1].average().products_count == 4
    assert cats[4].average() == AveragePrice("c4", "C4", "1000.00", 1, 0)
    for c in cats:
        assert c.average() == brute_force_average(cats, products, c.id)


def test_an_empty_category_has_no_average():
    assert category("x").average() == AveragePrice("x", "X", None, 0, 0)


def test_deltas_merge_and_cancel_out():
    cats = chain(3)
    delta = AggregateDelta().add_product(cats[2], 500).merge(AggregateDelta().add_product(cats[2], 500, -1))
    assert not delta
    moved = product_delta((cats[2], 500), (cats[1], 700))
    changes = dict(moved.items())
    assert changes["c2"].price_sums == [-500, 0, 0, 0]
    assert changes["c1"].price_sums == [700, -500, 0, 0]
    assert changes["c0"].price_sums == [0, 700, -500, 0]
    assert changes["c0"].product_counts == [0, 1, -1, 0]
    assert changes["c1"].product_counts == [1, -1, 0, 0]


def test_write_delta_ignores_updates_that_keep_price_and_category():
    cats = chain(2)
    before = product("p", "c1", 1000)
    same = rules.edited(before, {"name": "q", "stock": 5}, "t2")
    write = rules.UpdateProduct(before, same, ("name", "stock"), cats[1].path)
    assert not rules.write_delta([write], {c.id: c for c in cats})
    repriced = rules.edited(before, {"price_cents": 1500}, "t2")
    delta = rules.write_delta([rules.UpdateProduct(before, repriced, ("price_cents",), "")], {c.id: c for c in cats})
    assert dict(delta.items())["c0"].price_sums == [0, 500, 0, 0]


# --- products


def test_product_current_price_is_the_discount_when_set():
    p = rules.new_product("Lamp", 150000, None, 7, "c", "t")
    assert (p.price_cents, p.discount_price_cents, p.current_price_cents) == (150000, None, 150000)
    assert p.stock == p.available == 7 and p.reserved == 0
    discounted = rules.edited(p, {"discount_price_cents": 0}, "t2")
    assert discounted.current_price_cents == 0
    assert discounted.updated_at == "t2"


def test_edits_keep_available_in_step_with_stock():
    p = rules.new_product("Lamp", 100, None, 10, "c", "t")
    p.reserved, p.available = 4, 6
    assert rules.edited(p, {"stock": 20}, "t2").available == 16


def test_snapshots_belong_to_their_hour():
    c = chain(2)[0]
    c.price_sums, c.product_counts, c.subcategory_counts = [300, 100, 0, 0], [2, 1, 0, 0], [0, 1, 0, 0]
    snap = PriceSnapshot.of(c, "2026-01-02T03:04:05.000000Z")
    assert snap.slot == "2026-01-02T03"
    assert (snap.price_sum_cents, snap.products_count, snap.subcategory_count) == (400, 3, 1)
