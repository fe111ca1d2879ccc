"""Property: the one-read average equals a brute-force walk of the tree, after any sequence of edits."""

from hypothesis import HealthCheck, given, settings

from chalicelib.bootstrap import services
from chalicelib.services import catalog as service
from tests.support.catalog import apply_edits, brute_force_average, catalog_edits, everything, memory_catalog


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(catalog_edits())
def test_aggregates_match_brute_force_after_random_edits(edits):
    with memory_catalog() as repo:
        category_ids, product_ids = apply_edits(edits, "tree")
        categories, products = everything()
        assert {c.id for c in categories} == set(category_ids)
        assert {p.id for p in products} == set(product_ids)
        for category_id in category_ids:
            expected = brute_force_average(categories, products, category_id)
            assert service.average_price(services(), category_id) == expected
        # and the per-level stored sums themselves, not just the totals
        for category in repo.categories.values():
            for level in range(4):
                members = {c.id for c in categories if _distance(categories, c, category.id) == level}
                in_level = [p.price_cents for p in products if p.category_id in members]
                assert category.price_sums[level] == sum(in_level)
                assert category.product_counts[level] == len(in_level)
                assert category.subcategory_counts[level] == (len(members) if level else 0)


def _distance(categories, candidate, ancestor_id):
    by_id = {c.id: c for c in categories}
    distance, current = 0, candidate
    while current is not None:
        if current.id == ancestor_id:
            return distance
        current = by_id.get(current.parent_id)
        distance += 1
    return None
