"""The case workflow (案件办理流程): one per case, from intake to archive, owning the case's
decisions and its statutory clock."""
