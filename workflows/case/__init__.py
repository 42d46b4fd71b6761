"""The case workflow (案件办理流程): one per case, from intake to archive, owning the case's
decisions and its statutory clock.

- workflow.py: the Temporal wiring (run loop, updates, signal, query);
- state.py: everything an action may change, one value;
- clock.py: the statutory periods, timers, warnings, escalation, provisional years (暂定);
- actions/: what each action does, by stage (declared once in contracts.case_actions);
- record.py: the view, the case record in the complaints service, the search attributes;
- procedure.py: the penalty rules (what a penalty entails, how an action is refused).
The periods themselves (e.g. verify_and_open, 15 working days) are in rules/periods.yaml."""
