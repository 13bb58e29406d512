"""Reusable test toolkit: the Functions test host, sandbox builders, service helpers."""
