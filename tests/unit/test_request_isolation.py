"""Each thread of a server process sees its own Chalice request (gunicorn's gthread workers, SPEC §4)."""

from __future__ import annotations

import threading

from chalice import Blueprint

from chalicelib.api.chalice_app import ThreadSafeChalice
from chalicelib.runtime.wsgi import ChaliceWSGI
from tests.support.identity import WsgiClient


def echo_app(paused: threading.Event, resume: threading.Event):
    """A view that, for the name "slow", pauses between entering and reading its request."""
    bp = Blueprint(__name__)

    @bp.route("/echo/{name}", methods=["POST"])
    def echo(name):
        if name == "slow":
            paused.set()
            assert resume.wait(10)
        request = bp.current_request
        return {"name": name, "body": request.json_body, "header": request.headers.get("x-who")}

    app = ThreadSafeChalice(app_name="isolation")
    app.register_blueprint(bp)
    return app


def test_a_request_that_waits_still_reads_its_own_body_and_headers():
    paused, resume = threading.Event(), threading.Event()
    client = WsgiClient(ChaliceWSGI(echo_app(paused, resume)))
    slow_reply = {}

    def slow():
        slow_reply["r"] = client.request("POST", "/echo/slow", body={"who": "slow"}, headers={"X-Who": "slow"})

    thread = threading.Thread(target=slow)
    thread.start()
    assert paused.wait(10)
    # Another request runs to completion on another thread while the first one is inside its view.
    fast = client.request("POST", "/echo/fast", body={"who": "fast"}, headers={"X-Who": "fast"})
    resume.set()
    thread.join(10)

    assert fast.json() == {"name": "fast", "body": {"who": "fast"}, "header": "fast"}
    assert slow_reply["r"].json() == {"name": "slow", "body": {"who": "slow"}, "header": "slow"}


def test_a_finished_request_is_not_left_behind_on_its_thread():
    app = echo_app(threading.Event(), threading.Event())
    WsgiClient(ChaliceWSGI(app)).request("POST", "/echo/fast", body={"who": "fast"})
    assert app.current_request is None and app.lambda_context is None


def test_the_served_app_is_the_thread_safe_one():
    from app import app

    assert isinstance(app, ThreadSafeChalice)
