"""ASGI entry point for servers: ``uvicorn careweave.asgi:app --workers 4``."""

from careweave.app import create_app
from careweave.core.runtime import freeze_heap
from careweave.settings import load_settings

app = create_app(load_settings())
freeze_heap()  # this worker process has started: core.runtime (ADR 0014)
