"""Screening instruments (PHQ-2/9, GAD-2/7, MDQ, AUDIT-C, C-SSRS screener, PCL-5): versioned instrument
data, pure scoring functions and their errors, as specified in ``clinical-spec.md`` §1.

Scores are decision support: they flag and route; a licensed clinician makes the clinical decision.
"""
