"""The JSON front door under /api/v1: routers and the JSON error translator."""

from __future__ import annotations

from fastapi import APIRouter

from careweave.audit.api import router as audit_router
from careweave.identity.api import router as identity_router
from careweave.patients.api import router as patients_router

router = APIRouter(prefix="/api/v1")
router.include_router(identity_router)
router.include_router(patients_router)
router.include_router(audit_router)
