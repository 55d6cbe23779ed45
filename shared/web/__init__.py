"""HTTP plumbing shared by Hookline's aiohttp services: Svix error shapes, bearer auth,
typed request parsing, JSON responses and an OpenAPI document built from the routes."""
