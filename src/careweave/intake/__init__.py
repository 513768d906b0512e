"""Intake: what a patient tells us before screening (where they are, coverage, preferences,
goals, history). Demographics live on the patient record; the rest lives here."""
