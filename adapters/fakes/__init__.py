"""Provider-shaped fakes (WSGI apps): stand-ins for demos and tests, never used by a deployment.

`python -m integration_core demo --systems hubspot,salesforce` serves them in-process, and
the adapter contract suite and end-to-end tests run against them. Each keeps the shapes and
behaviour its provider documents (its module docstring says which); nothing in the runtime
or the function app imports this package.
"""
