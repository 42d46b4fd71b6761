"""Inspections service (双随机一公开, 专项整治). API to come."""
