"""Complaints service (投诉举报): intake, tracking and the case record. API to come."""
