"""ASGI entry point for servers: ``uvicorn careweave.asgi:app --workers 4``."""

from careweave.app import create_app
from careweave.settings import load_settings

app = create_app(load_settings())
