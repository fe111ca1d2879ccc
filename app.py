"""ekiosk: the Chalice application. Wiring only; the rules live in chalicelib/."""

from chalicelib.api import (
    admin,
    authorizer,
    catalog,
    console,
    docs,
    identity,
    notifications,
    orders,
    system,
)
from chalicelib.api.chalice_app import ThreadSafeChalice
from chalicelib.api.routing import API_PREFIX
from chalicelib.api.system import add_method_not_allowed_routes
from chalicelib.observability import configure_logging

app = ThreadSafeChalice(app_name="ekiosk")  # many requests per process under gunicorn threads
app.api.binary_types.append("multipart/form-data")
configure_logging(app)

app.register_blueprint(authorizer.bp)
for blueprint in (system, identity, admin, catalog, orders, notifications, docs):
    app.register_blueprint(blueprint.bp, url_prefix=API_PREFIX)
app.register_blueprint(console.bp)  # /console: the staff page, outside the API prefix
add_method_not_allowed_routes(app)
