"""Rules of the inspections service, without I/O: the draw algorithm (`draw`, specified in its
docstring), the inspector directory and its exclusions (`directory`), and what makes a plan, a
campaign and a task's record acceptable (`plans`)."""
