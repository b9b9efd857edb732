"""Contracts: HTTP wire models, stream events and identifier rules. Nothing else lives here."""
