"""Helpers shared by the test suite (real servers, fake devices)."""
