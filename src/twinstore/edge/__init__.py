"""The HTTP edge: the ASGI application, its ordered request pipeline, addressing and error bodies."""
