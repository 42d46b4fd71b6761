"""Complaints service (投诉举报): intake of reports, reporters' identities and tracking codes, and
the record of the cases that the case workflow drives."""
