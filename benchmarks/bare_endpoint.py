"""The yardstick of benchmarks/serve.py: the least a Flask endpoint can do for a recommendations
answer. One Redis GET of a prepared 20-movie JSON list, returned as it is.

Served by ``benchmarks/serve.py`` under MovieRec's own gunicorn configuration (same workers,
threads and access log), so that the difference to the real endpoints is MovieRec's own work:

    gunicorn -c src/movierec/gunicorn.conf.py 'bare_endpoint:create_app()'

Settings from the environment: ``REDIS_URL`` and ``BARE_ENDPOINT_KEY`` (the key holding the JSON).
"""

from __future__ import annotations

import os

import redis
from flask import Flask, Response


def create_app() -> Flask:
    app = Flask(__name__)
    key = os.environ["BARE_ENDPOINT_KEY"]
    client = redis.Redis.from_url(os.environ["REDIS_URL"])  # connects on first use, per worker

    @app.get("/bare")
    def bare() -> Response:
        return Response(client.get(key), mimetype="application/json")

    return app
