"""The web app: server-rendered pages and htmx fragments over the same services as the API."""
