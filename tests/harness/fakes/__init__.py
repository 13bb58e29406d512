"""Provider-shaped fakes (WSGI apps) for the adapter contract suite and end-to-end tests."""
