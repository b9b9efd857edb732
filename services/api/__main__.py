"""Entrypoint: ``python -m services.api`` (what ``make up`` runs on INVARIUM_PORT)."""

from __future__ import annotations

from services.api.app import create_app
from services.api.settings import ApiSettings
from services.common.serve import serve


def main() -> None:
    settings = ApiSettings()
    serve(create_app(settings), settings)


if __name__ == "__main__":
    main()
