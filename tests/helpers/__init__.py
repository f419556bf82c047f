"""Shared test support: real services, real databases, real worker processes."""
