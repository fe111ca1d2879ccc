"""Logging setup shared by the Lambda functions, the local API and the workers."""

import logging
import os


def configure_logging(app=None) -> None:
    level = os.environ.get("LOG_LEVEL", "INFO").upper()
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    if app is not None:
        app.log.setLevel(level)
