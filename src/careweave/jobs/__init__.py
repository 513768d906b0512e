"""A durable job queue in the application's own database (see docs/adr/0008-job-queue.md)."""
