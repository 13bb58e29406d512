"""The serverless surface's helpers: this package may import azure.functions, which
integration_core never does.
"""
