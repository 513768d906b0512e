"""Labs and monitoring (issue #7): monitoring protocols, lab orders and results, HL7 v2 ingestion, alerts."""
