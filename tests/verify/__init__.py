"""tests/verify is a package so that its conftest does not shadow tests/interop/conftest.py
(the interop tests do `from conftest import ...`) when both suites run in one session."""
