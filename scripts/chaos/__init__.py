"""Private RabbitMQ node and PostgreSQL cluster for Hookline's chaos tests.

Both run on spare loopback ports from a temporary folder, so stopping, killing or
restarting them disturbs nothing else on the machine (the shared servers on 5672 and
5432 are never touched).
"""
