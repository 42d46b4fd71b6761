"""Inspection workflows: one per inspection task (检查任务), and one per campaign that fans out to
its tasks (专项整治, 双随机抽查)."""
