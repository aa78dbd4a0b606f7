"""Grading: grading attempts, errata and regrades, and the exam results export."""
