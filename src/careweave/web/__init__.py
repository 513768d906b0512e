"""The HTML front door: server-rendered pages (Jinja2 + vendored htmx), forms work without JS."""
