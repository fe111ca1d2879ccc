"""The categories and products tables.

Money is stored as integer cents so sums stay exact. Each category keeps its ancestors and, per
relative level below it (0 = itself .. 3), the sum and count of its products' prices and the number
of subcategories, so the average-price read is one GetItem whatever the catalog size.

The categories table also holds two companion item types (ids contain ':', category ids never do):
- `CategoryNameClaim` "name:{parent}:{name key}" -> category id: makes sibling names unique (a
  conditional put in the same transaction as the category) and resolves a path with GetItems.
- `PriceSnapshotRecord` "snapshot:{category}:{hour}": the hourly average-price history, queried
  through the sparse `by-snapshot` index.
- `ProductNameClaim` "product:{category}:{name key}" -> product id: makes product names unique within a
  category (a conditional put in the same transaction as the product; moved on rename or move, deleted
  with the product) and lets bulk upload find existing products by name with consistent GetItems, never
  through an index (indexes may lag writes on AWS).
- `CategoriesNamedRecord` "named:{name key}" -> the ids of every category with that name, anywhere in
  the tree (a set, kept in step by the category transactions): bulk upload resolves a bare category
  name with one consistent GetItem instead of the `by-name` index.
"""

from pynamodb.attributes import ListAttribute, NumberAttribute, UnicodeAttribute, UnicodeSetAttribute
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model

from chalicelib.adapters.dynamodb.base import table

ROOT_PARENT = "ROOT"  # parent_key of top-level categories (index keys cannot be null)
PRODUCT_KIND = "PRODUCT"


class CategoriesByParent(GlobalSecondaryIndex):
    """Children of a category by name; a scan of this sparse index lists every category."""

    class Meta:
        index_name = "by-parent"
        projection = AllProjection()

    parent_key = UnicodeAttribute(hash_key=True)
    name_key = UnicodeAttribute(range_key=True)


class CategoriesByName(GlobalSecondaryIndex):
    """Categories with a given name anywhere in the tree (bulk upload resolves bare names with it)."""

    class Meta:
        index_name = "by-name"
        projection = AllProjection()

    name_key = UnicodeAttribute(hash_key=True)


class SnapshotsByCategory(GlobalSecondaryIndex):
    """A category's price history, oldest first (only snapshot items carry these attributes)."""

    class Meta:
        index_name = "by-snapshot"
        projection = AllProjection()

    snapshot_of = UnicodeAttribute(hash_key=True)
    taken_at = UnicodeAttribute(range_key=True)


class CategoryNameClaim(Model):
    """Shares the categories table: one per (parent, case-folded name)."""

    class Meta:
        pass

    id = UnicodeAttribute(hash_key=True)
    category_id = UnicodeAttribute()


class ProductNameClaim(Model):
    """Shares the categories table: one per (category, case-folded product name)."""

    class Meta:
        pass

    id = UnicodeAttribute(hash_key=True)
    product_id = UnicodeAttribute()


class CategoriesNamedRecord(Model):
    """Shares the categories table: one per case-folded category name, with the ids of its categories."""

    class Meta:
        pass

    id = UnicodeAttribute(hash_key=True)
    category_ids = UnicodeSetAttribute(default=set)


class PriceSnapshotRecord(Model):
    """Shares the categories table: one category's average price at one hour."""

    class Meta:
        pass

    id = UnicodeAttribute(hash_key=True)
    snapshot_of = UnicodeAttribute()
    taken_at = UnicodeAttribute()
    price_sum_cents = NumberAttribute()
    products_count = NumberAttribute()
    subcategory_count = NumberAttribute()

    by_snapshot = SnapshotsByCategory()


@table("categories")
class CategoryRecord(Model):
    class Meta:
        billing_mode = "PAY_PER_REQUEST"
        companions = (CategoryNameClaim, PriceSnapshotRecord, ProductNameClaim, CategoriesNamedRecord)

    id = UnicodeAttribute(hash_key=True)
    name = UnicodeAttribute()
    name_key = UnicodeAttribute()  # case-folded name, for lookups by name under a parent
    parent_id = UnicodeAttribute(null=True)
    parent_key = UnicodeAttribute(default=ROOT_PARENT)
    ancestors = ListAttribute(of=UnicodeAttribute, default=list)  # root first, parent last
    path = UnicodeAttribute()  # "/root/.../self/": prefix of every descendant's path
    depth = NumberAttribute(default=0)
    # Aggregates by relative level: index 0 is this category, 1..3 its descendants at that distance.
    price_sums = ListAttribute(of=NumberAttribute, default=lambda: [0, 0, 0, 0])
    product_counts = ListAttribute(of=NumberAttribute, default=lambda: [0, 0, 0, 0])
    subcategory_counts = ListAttribute(of=NumberAttribute, default=lambda: [0, 0, 0, 0])
    created_at = UnicodeAttribute()
    updated_at = UnicodeAttribute()

    by_parent = CategoriesByParent()
    by_name = CategoriesByName()
    by_snapshot = SnapshotsByCategory()  # declared here so that the table definition includes it


class ProductsByCategory(GlobalSecondaryIndex):
    class Meta:
        index_name = "by-category"
        projection = AllProjection()

    category_id = UnicodeAttribute(hash_key=True)
    name_key = UnicodeAttribute(range_key=True)


class ProductsByPath(GlobalSecondaryIndex):
    """All products ordered by category path: a subtree is one `begins_with` query."""

    class Meta:
        index_name = "by-path"
        projection = AllProjection()

    kind = UnicodeAttribute(hash_key=True)
    path_key = UnicodeAttribute(range_key=True)  # category path + product id


@table("products")
class ProductRecord(Model):
    class Meta:
        billing_mode = "PAY_PER_REQUEST"

    id = UnicodeAttribute(hash_key=True)
    kind = UnicodeAttribute(default=PRODUCT_KIND)
    name = UnicodeAttribute()
    name_key = UnicodeAttribute()
    category_id = UnicodeAttribute()
    path_key = UnicodeAttribute()
    price_cents = NumberAttribute()
    discount_price_cents = NumberAttribute(null=True)
    stock = NumberAttribute(default=0)
    reserved = NumberAttribute(default=0)
    # stock - reserved, kept in step by every update expression: conditions cannot subtract.
    available = NumberAttribute(default=0)
    created_at = UnicodeAttribute()
    updated_at = UnicodeAttribute()

    by_category = ProductsByCategory()
    by_path = ProductsByPath()
