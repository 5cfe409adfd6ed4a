"""Helpers shared by the JSON API blueprints."""
