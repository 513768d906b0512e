"""The patient record: demographics and where the patient is."""
