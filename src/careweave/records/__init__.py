"""The shared treatment plan (versioned) and clinical notes, with psychotherapy notes kept apart (issue #6)."""
