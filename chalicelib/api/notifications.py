"""Routes of this area are added by its issue."""

from chalice import Blueprint

bp = Blueprint(__name__)
