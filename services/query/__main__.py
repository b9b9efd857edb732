"""Entrypoint: ``python -m services.query`` (what docker-compose runs)."""

from __future__ import annotations

from services.common.serve import serve
from services.query.app import create_app
from services.query.settings import QuerySettings


def main() -> None:
    settings = QuerySettings()
    serve(create_app(settings), settings)


if __name__ == "__main__":
    main()
