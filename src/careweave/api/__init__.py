"""The JSON front door under /api/v1: routers and the JSON error translator."""

from __future__ import annotations

from fastapi import APIRouter

from careweave.audit.api import router as audit_router
from careweave.careteam.referral_api import router as referrals_router
from careweave.consent.api import router as consent_router
from careweave.directory.api import router as directory_router
from careweave.directory.match_api import router as match_router
from careweave.identity.api import router as identity_router
from careweave.intake.api import router as intake_router
from careweave.labs.api import router as labs_router
from careweave.medications.api import router as medications_router
from careweave.messaging.api import router as messaging_router
from careweave.outcomes.api import router as outcomes_router
from careweave.patients.api import router as patients_router
from careweave.records.api import router as records_router
from careweave.safety.api import router as safety_router
from careweave.scheduling.api import router as scheduling_router
from careweave.screening.api import router as screening_router
from careweave.triage.api import router as triage_router

router = APIRouter(prefix="/api/v1")
router.include_router(identity_router)
router.include_router(patients_router)
router.include_router(intake_router)
router.include_router(screening_router)
router.include_router(triage_router)
router.include_router(safety_router)
router.include_router(directory_router)
router.include_router(match_router)
router.include_router(scheduling_router)
router.include_router(consent_router)
router.include_router(referrals_router)
router.include_router(records_router)
router.include_router(messaging_router)
router.include_router(outcomes_router)
router.include_router(labs_router)
router.include_router(medications_router)
router.include_router(audit_router)
