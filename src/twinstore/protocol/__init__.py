"""AWS wire formats driven by botocore's service models.

Request parsing (headers, query, XML payloads) and response serialization (headers, XML bodies)
are compiled once per shape from the model, never written as templates.
"""
