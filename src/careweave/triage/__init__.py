"""Care-pathway triage: decision support that routes a patient to therapy, psychiatry, both or urgent care.

The rules live in :mod:`careweave.triage.rules` as pure functions implementing the decision procedure of
``clinical-spec.md`` §7.3. They flag and recommend; a licensed clinician makes the clinical decision and may
override any recommendation with a recorded reason (§7.3, last paragraph).
"""
