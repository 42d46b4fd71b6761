"""Inspections service (双随机一公开, 专项整治): the inspector directory, plans and their verifiable
draws, campaigns and their inspection tasks, and the published results."""
